import Dispatch

/// Splits index ranges across threads. `concurrentPerform` parks idle workers instead of
/// spinning, so a busy neighbour on a shared core slows us down instead of stalling us.
enum Parallel {
    static func forChunks(of count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let workers = max(1, min(threads, count))
        if workers == 1 {
            body(0 ..< count)
            return
        }
        // Each worker touches a disjoint range; the closure's captures (buffers) are shared on purpose.
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: workers) { w in
                let start = count * w / workers
                let end = count * (w + 1) / workers
                work(start ..< end)
            }
        }
    }
}
