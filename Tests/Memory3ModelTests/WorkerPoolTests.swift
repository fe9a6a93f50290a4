import Foundation
@testable import Memory3Model
import Synchronization
import XCTest

/// The worker pool runs every chunk exactly once, and its stall detector tells contention (a
/// worker descheduled while it holds a chunk) from a quiet machine's ordinary jitter.
final class WorkerPoolTests: XCTestCase {
    func testEveryChunkRunsExactlyOnceOnAnyThreadCount() {
        for threads in [1, 2, 3] {
            for count in [1, 2, 7, 100, 1000] {
                let hits = Mutex([Int](repeating: 0, count: count))
                Parallel.forChunks(of: count, threads: threads) { range in
                    hits.withLock { for i in range { $0[i] += 1 } }
                }
                XCTAssertEqual(hits.withLock { $0 }, Array(repeating: 1, count: count), "\(threads) threads, \(count) items")
            }
        }
    }

    /// Loops back to back whose chunk counts alternate small and large, with more threads than
    /// cores, so that workers are often late from the loop before: each chunk still runs once per
    /// loop. (Before the count travelled in the claim word, a late worker could claim a chunk of a
    /// finished loop against the next loop's larger count, run it with the next loop's body and
    /// count it done there. This test did not catch that old race in 3 runs against the old code:
    /// its window is a few instructions of the caller wide. Lanes check a claim against their own
    /// word's bounds and generation: `WorkerPool.Lane`.)
    func testBackToBackLoopsOfChangingSizeRunEachChunkOnce() {
        let pool = WorkerPool.shared(threads: 3)
        let runs = Mutex([Int](repeating: 0, count: 64))
        for loop in 0 ..< 20_000 {
            let chunks = loop % 2 == 0 ? 2 : 64
            pool.run(chunks: chunks) { c in runs.withLock { $0[c] += 1 } }
            let counted = runs.withLock { counts in
                defer { counts = Array(repeating: 0, count: 64) }
                return counts
            }
            guard counted == (0 ..< 64).map({ $0 < chunks ? 1 : 0 }) else {
                XCTFail("loop \(loop) (\(chunks) chunks): chunks ran \(counted)")
                return
            }
        }
    }

    /// Each thread runs its own lane's chunks in order, one contiguous run (what keeps a decode
    /// step's weight reads streaming), and takes the others' from their backs.
    func testEachThreadRunsAContiguousRunThenStealsFromTheBack() {
        let pool = WorkerPool(threads: 2)  // its own: a shared pool's stall detector may be running loops alone
        // Until the worker has shared 20 loops (a new pool's worker may start late, and 16 empty
        // chunks are done before it wakes: 200 loops once passed without it, under load), each
        // chunk a few microseconds long; a worker that never runs fails at the deadline.
        var bothRan = 0
        let deadline = Date().addingTimeInterval(30)
        while bothRan < 20, Date() < deadline {
            let order = Mutex([pthread_t: [Int]]())
            pool.run(chunks: 16) { c in
                usleep(20)
                order.withLock { $0[pthread_self(), default: []].append(c) }
            }
            for (_, chunks) in order.withLock({ $0 }) {
                // Its own lane: ascending and adjacent; then stolen chunks, each below the last.
                var i = 1
                while i < chunks.count, chunks[i] == chunks[i - 1] + 1 { i += 1 }
                let stolen = chunks[i...]
                XCTAssertEqual(Array(stolen), stolen.sorted(by: >), "chunks in the order one thread ran them: \(chunks)")
            }
            XCTAssertEqual(order.withLock { $0.values.flatMap { $0 }.sorted() }, Array(0 ..< 16))
            if order.withLock({ $0.count }) == 2 { bothRan += 1 }
        }
        XCTAssertGreaterThan(bothRan, 0, "the worker never ran a chunk: nothing was tested")
    }

    /// A worker held up inside a chunk does not hold up its lane: the caller takes the rest of it.
    func testTheCallerTakesTheLaneOfAWorkerThatIsHeldUp() {
        let pool = WorkerPool(threads: 2)
        let caller = pthread_self()
        let callerRan = Atomic<Int>(0)
        let release = DispatchSemaphore(value: 0)
        var waitedInVain = false, heldUp = 0, loops = 0
        // 20 loops, and more until the worker has run a chunk (a new pool's worker may wake after
        // the caller has run all 16 chunks of many loops on a busy machine; seen once in `make
        // test`), up to 30 s: a deadline that fails below, not a skip.
        let deadline = Date().addingTimeInterval(30)
        while !waitedInVain, loops < 20 || heldUp == 0, Date() < deadline {
            loops += 1
            let workerRan = Mutex([Int]())
            callerRan.store(0, ordering: .relaxed)
            pool.run(chunks: 16) { c in
                if pthread_self() == caller {
                    if callerRan.add(1, ordering: .relaxed).newValue == 15 { release.signal() }
                } else {
                    workerRan.withLock { $0.append(c) }
                    // The worker's first chunk waits until the caller has run all the others.
                    if workerRan.withLock({ $0.count }) == 1, release.wait(timeout: .now() + 10) == .timedOut { waitedInVain = true }
                }
            }
            let worker = workerRan.withLock { $0 }
            XCTAssertFalse(waitedInVain, "the caller did not take the held-up worker's lane")
            XCTAssertEqual(callerRan.load(ordering: .relaxed) + worker.count, 16)
            // The worker was asleep for the whole loop (the caller ran all 16), or it ran one chunk.
            XCTAssertLessThanOrEqual(worker.count, 1)
            heldUp += worker.count
            while release.wait(timeout: .now()) == .success {}
        }
        XCTAssertGreaterThan(heldUp, 0, "the worker never ran a chunk: nothing was tested")
    }

    func testLongWaitsOnWorkersSwitchToRunningAloneForAWhile() {
        var detector = StallDetector(threads: 2)
        // A quiet machine: waits of the order of a chunk, and an odd long one (measured: 2 in
        // 40,000 loops), never switch.
        for i in 0 ..< 40_000 {
            detector.record(chunksRun: 8, of: 16, working: 80_000, waiting: i % 10_000 == 0 ? 2_000_000 : 15_000)
            XCTAssertFalse(detector.runAlone())
        }
        XCTAssertEqual(detector.contentionPeriods, 0)
        // Long prefill chunks: a wait of a few chunk times is not a stall, even when long.
        for _ in 0 ..< 1_000 {
            detector.record(chunksRun: 8, of: 16, working: 80_000_000, waiting: 20_000_000)
            XCTAssertFalse(detector.runAlone())
        }
        // Contention: waits of milliseconds on microsecond chunks, a few within the window.
        for _ in 0 ..< StallDetector.stallsForContention {
            detector.record(chunksRun: 8, of: 16, working: 80_000, waiting: 3_000_000)
            for _ in 0 ..< 100 { detector.record(chunksRun: 8, of: 16, working: 80_000, waiting: 15_000) }
        }
        XCTAssertEqual(detector.contentionPeriods, 1)
        var alone = 0
        while detector.runAlone() { alone += 1 }
        XCTAssertEqual(alone, StallDetector.aloneLoops, "then it probes the workers again")
    }

    /// With 8 threads a caller's fair share is an eighth of the chunks: on a quiet machine it runs
    /// about that (its lane), which is not starvation.
    func testACallerWithItsFairShareOfManyThreadsIsNotStarved() {
        var detector = StallDetector(threads: 8)
        for _ in 0 ..< 3 * StallDetector.window {
            detector.record(chunksRun: 2, of: 16, working: 20_000, waiting: 0)
            XCTAssertFalse(detector.runAlone())
        }
        // Under half of that, loop after loop, is.
        loopsUntilAlone(&detector) { $0.record(chunksRun: 0, of: 16, working: 0, waiting: 0) }
        XCTAssertEqual(detector.contentionPeriods, 1)
    }

    func testACallerThatGetsThroughFewChunksRunsAlone() {
        var detector = StallDetector(threads: 2)
        // The workers do most chunks now and then (a wake-up race): not contention.
        for i in 0 ..< 10_000 {
            detector.record(chunksRun: i % 10 == 0 ? 1 : 7, of: 16, working: 20_000, waiting: 0)
            XCTAssertFalse(detector.runAlone())
        }
        // The caller shares its core: it gets through 2 of 16 chunks, loop after loop. Within two
        // windows (the first may have begun before), it runs alone.
        let loops = loopsUntilAlone(&detector) { $0.record(chunksRun: 2, of: 16, working: 20_000, waiting: 0) }
        XCTAssertEqual(detector.contentionPeriods, 1)
        XCTAssertLessThanOrEqual(loops, 2 * StallDetector.window)
    }

    /// Records loops with `record` until the detector runs alone, at most two windows; returns how many.
    @discardableResult
    private func loopsUntilAlone(_ detector: inout StallDetector, record: (inout StallDetector) -> Void) -> Int {
        var loops = 0
        while !detector.runAlone() && loops < 2 * StallDetector.window {
            record(&detector)
            loops += 1
        }
        return loops
    }
}
