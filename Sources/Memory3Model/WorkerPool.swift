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
    /// High 32 bits: job generation; low 32 bits: next chunk to claim.
    private let claim = Atomic<UInt64>(0)
    private let finishedChunks = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)
    private var workers: [Worker] = []
    /// The running job; read by workers only for chunks they claimed while the caller waits.
    nonisolated(unsafe) private var body: ((Int) -> Void)?
    nonisolated(unsafe) private var chunkCount = 0
    /// How long an idle worker spins for the next job before sleeping.
    static let spinNanoseconds: UInt64 = 200_000

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

    /// Calls `body(chunk)` for every chunk in 0..<chunks, spread over the pool's threads; returns
    /// when all are done. A second caller while a loop runs does its loop alone.
    func run(chunks: Int, _ body: (Int) -> Void) {
        guard chunks > 1, !workers.isEmpty, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else {
            for c in 0 ..< chunks { body(c) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { escapable in
            self.body = escapable
            self.chunkCount = chunks
            finishedChunks.store(0, ordering: .relaxed)
            let generation = (claim.load(ordering: .relaxed) >> 32) &+ 1
            claim.store(generation << 32, ordering: .releasing)
            for w in workers where w.sleeping.exchange(false, ordering: .acquiringAndReleasing) {
                w.wake.signal()
            }
            work(generation: generation)
            // Wait for chunks that workers claimed; spin briefly, then yield the core.
            var spins = 0
            while finishedChunks.load(ordering: .acquiring) < chunks {
                spins += 1
                if spins < 2000 { m3_cpu_relax() } else { sched_yield() }
            }
            self.body = nil
        }
    }

    /// Claims and runs chunks of job `generation` until none are left.
    private func work(generation: UInt64) {
        var current = claim.load(ordering: .acquiring)
        while current >> 32 == generation {
            let next = Int(current & 0xFFFF_FFFF)
            guard next < chunkCount else { return }
            let (exchanged, original) = claim.compareExchange(expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
            if exchanged {
                body!(next)
                finishedChunks.add(1, ordering: .releasing)
                current = current + 1
            } else {
                current = original
            }
        }
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
