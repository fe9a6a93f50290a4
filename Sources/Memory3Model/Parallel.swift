/// Splits index ranges across threads of the shared worker pool (also used by the vector index's
/// scans: a second caller while a loop runs does its loop alone, so a scan never waits on decode).
public enum Parallel {
    /// Chunks per thread: enough that a slowed thread's share can be taken over by the others.
    static let chunksPerThread = 8

    /// How often the pool for `threads` threads has run its loops on the caller alone because its
    /// workers were being descheduled (StallDetector); benchmarks report it beside their speeds.
    public static func contentionPeriods(threads: Int) -> Int { WorkerPool.contentionPeriods(threads: threads) }

    /// Runs `body` over chunks of 0..<count. Chunks hold at least `minimumChunk` indices where
    /// that still gives every thread one (callers whose neighbouring indices share work ask for
    /// more than 1). With `alignment`, every chunk starts on a multiple of it (packed weights: a
    /// panel of rows is read by one chunk only).
    public static func forChunks(of count: Int, threads: Int, minimumChunk: Int = 1, alignment: Int = 1, _ body: (Range<Int>) -> Void) {
        if alignment > 1 {
            let units = (count + alignment - 1) / alignment
            forChunks(of: units, threads: threads, minimumChunk: max(1, minimumChunk / alignment)) { units in
                body(units.lowerBound * alignment ..< min(count, units.upperBound * alignment))
            }
            return
        }
        guard threads > 1, count > 1 else {
            body(0 ..< count)
            return
        }
        let chunks = max(min(count, threads), min(count / max(minimumChunk, 1), threads * chunksPerThread))
        WorkerPool.shared(threads: threads).run(chunks: chunks) { c in
            body(count * c / chunks ..< count * (c + 1) / chunks)
        }
    }
}
