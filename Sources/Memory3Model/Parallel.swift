/// Splits index ranges across threads of the shared worker pool.
enum Parallel {
    /// Chunks per thread: enough that a slowed thread's share can be taken over by the others.
    static let chunksPerThread = 8

    static func forChunks(of count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        guard threads > 1, count > 1 else {
            body(0 ..< count)
            return
        }
        let chunks = min(count, threads * chunksPerThread)
        WorkerPool.shared(threads: threads).run(chunks: chunks) { c in
            body(count * c / chunks ..< count * (c + 1) / chunks)
        }
    }
}
