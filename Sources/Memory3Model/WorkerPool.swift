import CKernels
import Dispatch
import Foundation
import Synchronization

/// Runs the chunks of one parallel loop on the caller plus a few long-lived worker threads.
///
/// Why not `concurrentPerform`: a decode step is ~200 short loops, and waking a parked Dispatch
/// worker for each one cost ~20% of decode time (measured). Why not pure spinning (llama.cpp):
/// on a shared 2-core machine a spinning thread starves the thread doing the work. So workers
/// spin briefly for the next loop, then sleep.
///
/// Each thread owns a contiguous run of the loop's chunks (a lane) and claims them front to back;
/// a thread whose lane is empty takes chunks from the back of the others' lanes, so when a worker
/// is descheduled the caller does its share instead of waiting for it. Why lanes rather than one
/// shared counter (what this pool had until 2026-12-04): with a shared counter the threads take
/// chunks alternately, so each thread's reads jump every chunk; a decode step's weights then
/// stream 20-40% slower (`scripts/decode-pass.c`, `CHUNKS=8` without and with `ADJACENT=1`, no
/// synchronisation at all: 3.1-3.8 vs 1.9-3.2 ms a pass), and
/// each claim moved one cache line between the cores.
final class WorkerPool: @unchecked Sendable {
    /// The generation of the latest job (32 bits, as in the lanes' words). Workers wait for it to change.
    private let job = Atomic<UInt64>(0)
    /// The most chunks one loop may have (the width of a count in a lane's word).
    static let maximumChunks = 0xFFFF
    private let finishedChunks = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    /// Lane 0 is the caller's, lane i the worker workers[i - 1]'s.
    private let lanes: [Lane]
    private var workers: [Worker] = []
    /// The running job; read by workers only for chunks they claimed while the caller waits.
    nonisolated(unsafe) private var body: ((Int) -> Void)?
    /// How long an idle worker spins for the next job before sleeping.
    static let spinNanoseconds: UInt64 = 200_000
    /// The caller's view of stalls (only the caller that holds `busy` touches it).
    nonisolated(unsafe) private var stalls: StallDetector

    final class Worker: @unchecked Sendable {
        let sleeping = Atomic<Bool>(false)
        let wake = DispatchSemaphore(value: 0)
    }

    /// One thread's unclaimed chunks of the current job: high 32 bits the job's generation, then 16
    /// bits the end of the run, low 16 bits its next chunk. A claim is a compare-exchange of the
    /// whole word, so a claim by a thread late from an earlier job fails on the generation, and the
    /// bounds it checks are always its own job's. (The pool before lanes kept the chunk count apart
    /// from its claim word until b53a372: a worker late from a finished job could then claim
    /// against the next job's larger count and run a chunk with the next job's body, and the caller
    /// left its loop with a chunk still running, which `withoutActuallyEscaping` caught as "closure
    /// argument was escaped" in test runs on 2026-12-03.)
    final class Lane: @unchecked Sendable {
        let word = Atomic<UInt64>(0)
        /// Keeps the lanes' words at least 128 bytes apart (the owner's claims do not write a line
        /// another lane's owner claims on; the object's own header shares the word's line).
        private let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

        /// Claims a chunk of job `generation`: the lane's next (its owner, front to back) or its
        /// last (`fromBack`: a thread whose own lane is empty).
        @inline(__always)
        func claim(generation: UInt64, fromBack: Bool) -> Int? {
            var current = word.load(ordering: .acquiring)
            while current >> 32 == generation {
                let next = current & 0xFFFF, end = (current >> 16) & 0xFFFF
                guard next < end else { return nil }
                let desired = generation << 32 | (fromBack ? end - 1 : end) << 16 | (fromBack ? next : next + 1)
                let (exchanged, original) = word.compareExchange(expected: current, desired: desired, ordering: .acquiringAndReleasing)
                if exchanged { return Int(fromBack ? end - 1 : next) }
                current = original
            }
            return nil
        }
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
    /// Tests make their own (a pool's threads live as long as the process).
    init(threads: Int) {
        lanes = (0 ..< max(1, threads)).map { _ in Lane() }
        stalls = StallDetector(threads: max(1, threads))
        for index in 0 ..< max(0, threads - 1) {
            let worker = Worker()
            workers.append(worker)
            let thread = Thread { self.workerLoop(worker, lane: index + 1) }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

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
            // Wraps within the 32 bits the words hold, so that the caller claims with the generation
            // it stored (unmasked, at the wrap its claims would fail and the workers run the loop).
            let generation = (job.load(ordering: .relaxed) + 1) & 0xFFFF_FFFF
            // Lane i: chunks/T chunks, one more for the first chunks % T lanes (the caller's first,
            // so that it has a lane of its own whenever there is a chunk).
            let share = chunks / lanes.count, extra = chunks % lanes.count
            for (i, lane) in lanes.enumerated() {
                let first = i * share + min(i, extra), end = first + share + (i < extra ? 1 : 0)
                lane.word.store(generation << 32 | UInt64(end) << 16 | UInt64(first), ordering: .releasing)
            }
            // Sequentially consistent, as the worker's side of going to sleep: the job's store
            // and the read of `sleeping` must not pass each other, nor the worker's store of
            // `sleeping` and its read of the job, or a worker could sleep through this job.
            job.store(generation, ordering: .sequentiallyConsistent)
            for w in workers where w.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                w.wake.signal()
            }
            let started = DispatchTime.now().uptimeNanoseconds
            let done = work(generation: generation, lane: 0)
            let worked = DispatchTime.now().uptimeNanoseconds
            // Wait for chunks that workers claimed; spin briefly, then yield the core.
            var spins = 0
            while finishedChunks.load(ordering: .acquiring) < chunks - done {
                spins += 1
                if spins < 2000 { m3_cpu_relax() } else { sched_yield() }
            }
            stalls.record(chunksRun: done, of: chunks, working: worked - started, waiting: DispatchTime.now().uptimeNanoseconds - worked)
            self.body = nil
        }
    }

    /// Runs chunks of job `generation`: lane `own`'s front to back, then the other lanes' from
    /// their backs, until none are left; returns how many it ran.
    private func work(generation: UInt64, lane own: Int) -> Int {
        var ran = 0
        while let chunk = lanes[own].claim(generation: generation, fromBack: false) {
            runChunk(chunk)
            ran += 1
        }
        for step in 1 ..< lanes.count {
            let victim = lanes[(own + step) % lanes.count]
            while let chunk = victim.claim(generation: generation, fromBack: true) {
                runChunk(chunk)
                ran += 1
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

    private func workerLoop(_ worker: Worker, lane: Int) {
        var seen: UInt64 = 0
        while true {
            let spinStart = DispatchTime.now().uptimeNanoseconds
            var spins = 0
            var generation = job.load(ordering: .acquiring)
            while generation == seen {
                m3_cpu_relax()
                spins += 1
                if spins & 63 == 0, DispatchTime.now().uptimeNanoseconds - spinStart > Self.spinNanoseconds {
                    // Sleep until the next job; re-check after announcing it to not miss a wake-up.
                    worker.sleeping.store(true, ordering: .sequentiallyConsistent)
                    if job.load(ordering: .sequentiallyConsistent) != seen {
                        if !worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
                            worker.wake.wait()  // the caller signalled already: consume it
                        }
                    } else {
                        worker.wake.wait()
                    }
                    spins = 0
                }
                generation = job.load(ordering: .acquiring)
            }
            seen = generation
            // Counted once, after the last chunk: the caller waits for this count, so a worker
            // that ran chunks of a job is out of its loop before the next job starts.
            let ran = work(generation: generation, lane: lane)
            if ran > 0 { finishedChunks.add(ran, ordering: .releasing) }
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
    /// A caller that ran less than this part of its fair share (1 / threads) of a window's chunks
    /// is starved of its core (0.2 of all chunks at 2 threads, as before lanes; against all chunks,
    /// a caller of 5+ threads, who runs about its lane, would always have looked starved).
    static let starvedCallerPartOfFairShare = 0.4
    /// Threads of the pool (the caller's fair share of chunks is 1 / threads).
    let threads: Int

    init(threads: Int) { self.threads = threads }

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
        let starved = loops >= Self.window
            && Double(callerChunks) * Double(threads) < Self.starvedCallerPartOfFairShare * Double(allChunks)
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
