import CKernels
import Dispatch
import Foundation
import Synchronization

/// Runs the chunks of one parallel loop on the caller plus a few long-lived worker threads.
///
/// Why not `concurrentPerform`: a decode step is ~200 short loops, and waking a parked Dispatch
/// worker for each one cost ~20% of decode time (measured). Why not pure spinning (llama.cpp):
/// on a shared 2-core machine a spinning thread starves the thread doing the work. So workers
/// spin briefly for the next loop, then sleep; chunks are claimed dynamically, so when a worker
/// is descheduled the caller does its share instead of waiting for it.
final class WorkerPool: @unchecked Sendable {
    /// High 32 bits: job generation; then 16 bits: the job's chunk count; low 16 bits: the next
    /// chunk to claim. The count travels in the same word as the generation so that a worker
    /// checks a claim against its own job's count. (With the count in a separate variable, a
    /// worker late from the previous job could read the new, larger count, succeed its claim on
    /// the finished job's word before the caller replaced it, run a chunk with the new job's
    /// closure and count it done for the new job: the caller then left its loop with a chunk still
    /// running, which `withoutActuallyEscaping` caught as "closure argument was escaped" in test
    /// runs on 2026-12-03.)
    private let claim = Atomic<UInt64>(0)
    /// The most chunks one loop may have (the width of the count in `claim`).
    static let maximumChunks = 0xFFFF
    private let finishedChunks = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private var workers: [Worker] = []
    /// The running job; read by workers only for chunks they claimed while the caller waits.
    nonisolated(unsafe) private var body: ((Int) -> Void)?
    /// How long an idle worker spins for the next job before sleeping.
    static let spinNanoseconds: UInt64 = 200_000
    /// The caller's view of stalls (only the caller that holds `busy` touches it).
    nonisolated(unsafe) private var stalls = StallDetector()

    final class Worker: @unchecked Sendable {
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    private static let pools = Mutex<[Int: WorkerPool]>([:])

    /// The process-wide pool for `threads` threads; pools live as long as the process.
    static func shared(threads: Int) -> WorkerPool {
        pools.withLock { pools in
            if let pool = pools[threads] { return pool }
            let pool = WorkerPool(threads: threads)
            pools[threads] = pool
            return pool
        }
    }

    /// A pool whose loops use up to `threads` threads (the caller and threads - 1 workers).
    private init(threads: Int) {
        for _ in 0 ..< max(0, threads - 1) {
            let worker = Worker()
            workers.append(worker)
            let thread = Thread { self.workerLoop(worker) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    var threadCount: Int { workers.count + 1 }

    /// Times this pool has switched to running loops on the caller alone (contention seen);
    /// read without the caller's lock, for benchmarks' reports.
    var contentionPeriods: Int { stalls.contentionPeriods }

    /// `contentionPeriods` of the pool for `threads` threads, 0 when it was never made.
    static func contentionPeriods(threads: Int) -> Int {
        pools.withLock { $0[threads]?.contentionPeriods ?? 0 }
    }

    /// Calls `body(chunk)` for every chunk in 0..<chunks, spread over the pool's threads; returns
    /// when all are done. A second caller while a loop runs does its loop alone.
    func run(chunks: Int, _ body: (Int) -> Void) {
        precondition(chunks <= Self.maximumChunks, "at most \(Self.maximumChunks) chunks per loop")
        guard chunks > 1, !workers.isEmpty, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0 ..< chunks { body(c) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        if stalls.runAlone() {
            for c in 0 ..< chunks { body(c) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            finishedChunks.store(0, ordering: .relaxed)
            let generation = (claim.load(ordering: .relaxed) >> 32) &+ 1
            claim.store(generation << 32 | UInt64(chunks) << 16, ordering: .releasing)
            for w in workers where w.sleeping.exchange(false, ordering: .acquiringAndReleasing) {
                w.wake.signal()
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let done = work(generation: generation)
            let worked = DispatchTime.now().uptimeNanoseconds
            // Wait for chunks that workers claimed; spin briefly, then yield the core.
            var spins = 0
            while finishedChunks.load(ordering: .acquiring) < chunks {
                spins += 1
                if spins < 2000 { m3_cpu_relax() } else { sched_yield() }
            }
            stalls.record(chunksRun: done, of: chunks, working: worked - started, waiting: DispatchTime.now().uptimeNanoseconds - worked)
            self.body = nil
        }
    }

    /// Claims and runs chunks of job `generation` until none are left; returns how many it ran.
    @discardableResult
    private func work(generation: UInt64) -> Int {
        var current = claim.load(ordering: .acquiring)
        var ran = 0
        while current >> 32 == generation {
            let next = Int(current & 0xFFFF)
            guard next < Int((current >> 16) & 0xFFFF) else { return ran }
            let (exchanged, original) = claim.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                runChunk(next)
                finishedChunks.add(1, ordering: .releasing)
                ran += 1
                current = current + 1
            } else {
                current = original
            }
        }
        return ran
    }

    /// Runs one claimed chunk. Not inlined, so that the reference to the job's closure taken here
    /// is dropped before the chunk is counted done: the caller's `withoutActuallyEscaping` block
    /// ends as soon as the count is full and traps if a worker still holds the closure.
    @inline(never)
    private func runChunk(_ chunk: Int) {
        body!(chunk)
    }

    private func workerLoop(_ worker: Worker) {
        var seen: UInt64 = 0
        while true {
            let spinStart = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            var generation = claim.load(ordering: .acquiring) >> 32
            while generation == seen {
                m3_cpu_relax()
                spins += 1
                if spins & 63 == 0, DispatchTime.now().uptimeNanoseconds - spinStart > Self.spinNanoseconds {
                    // Sleep until the next job; re-check after announcing it to not miss a wake-up.
                    worker.sleeping.store(true, ordering: .releasing)
                    if claim.load(ordering: .acquiring) >> 32 != seen {
                        if !worker.sleeping.exchange(false, ordering: .acquiringAndReleasing) {
                            worker.wake.wait()  // the caller signalled already: consume it
                        }
                    } else {
                        worker.wake.wait()
                    }
                    spins = 0
                }
                generation = claim.load(ordering: .acquiring) >> 32
            }
            seen = generation
            work(generation: generation)
        }
    }
}

/// Notices when the pool's threads are being descheduled (another process wants their cores) and
/// then has the caller run loops alone for a while, probing again afterwards.
///
/// Why: a worker descheduled while it holds a chunk makes the caller wait a scheduler time slice
/// (milliseconds) for work it could have done in microseconds, and a caller that shares its core
/// with another process slows every loop and everything between them; decode runs ~200 loops per
/// token. Running alone lets the idle worker's core take the caller. Two signs, over a window of
/// loops: waits that are long against the caller's own chunks (so long prefill chunks on a quiet
/// machine are not mistaken for a stall), or a caller that gets through few of the chunks.
struct StallDetector {
    /// Loops looked at together (decode runs ~170 per token), stalls among them that mean
    /// contention, and loops then run alone. Measured with a busy loop on one of 2 cores: a worker
    /// stalls about once per token, 3.4 ms each (~12 per window); on a quiet machine 2 stalls in
    /// 40,000 loops. The window was 512 loops with 2 stalls until 2026-12-03: on the 2-core Xeon
    /// VM its neighbours tripped that, and "quiet" runs of `memory3 bench` with 1-3 periods alone
    /// decoded at 77-104 tok/s, runs with none at 112-154. With 2,048 and 6 (alternating runs of
    /// the two binaries): quiet, no period in 5 runs, decode median 146.8 vs 144.3 tok/s and
    /// max/min 1.38 vs 1.66; contended, 3 periods each, the same speed (94-113 tok/s). Without
    /// the detector at all (against 512 and 2): quiet 139.6 vs 119.9, contended 65-76 vs 77-83.
    static let window = 2048
    static let stallsForContention = 6
    static let aloneLoops = 8192
    /// A wait counts as a stall beyond this many of the caller's own chunk times, and this floor.
    static let chunkTimesPerStall: UInt64 = 8
    static let stallFloorNanoseconds: UInt64 = 200_000
    /// A caller that ran less than this share of a window's chunks is starved of its core.
    static let starvedCallerShare = 0.2

    private var loops = 0
    private var stallCount = 0
    private var callerChunks = 0
    private var allChunks = 0
    private var aloneLeft = 0
    /// Periods of running alone so far (for tests and logs).
    private(set) var contentionPeriods = 0

    /// Whether this loop runs on the caller alone.
    mutating func runAlone() -> Bool {
        guard aloneLeft > 0 else { return false }
        aloneLeft -= 1
        return true
    }

    /// Records a parallel loop: the chunks the caller ran of all, its time on them, and how long
    /// it then waited for the workers' chunks.
    mutating func record(chunksRun: Int, of chunks: Int, working: UInt64, waiting: UInt64) {
        let perChunk = working / UInt64(max(chunksRun, 1))
        if waiting > max(Self.stallFloorNanoseconds, Self.chunkTimesPerStall * perChunk) { stallCount += 1 }
        loops += 1
        callerChunks += chunksRun
        allChunks += chunks
        let starved = loops >= Self.window && Double(callerChunks) < Self.starvedCallerShare * Double(allChunks)
        if stallCount >= Self.stallsForContention || starved {
            aloneLeft = Self.aloneLoops
            contentionPeriods += 1
        }
        if stallCount >= Self.stallsForContention || loops >= Self.window {
            loops = 0
            stallCount = 0
            callerChunks = 0
            allChunks = 0
        }
    }
}
