import CKernels
import Foundation
import Memory3Model
import MemoryStore

/// The store's reference embeddings of one encoder, held in memory for fast nearest-neighbour
/// search: int8 components in one contiguous block (an exact scan is one pass of SIMD dot
/// products), plus one sign bit per component (a 384-wide vector is 48 bytes).
///
/// Up to `exactScanLimit` vectors every search is exact. Above it, a search first ranks all
/// vectors by the Hamming distance of their sign bits to the query's (binary quantization: 8x less
/// memory to stream than int8), then rescores the `rescoreCount` nearest exactly with int8; measured
/// in docs/retrieval.md (exact top-1 kept on >= 95% of queries at 100k).
///
/// Kept current by `refresh`: rows written since the last look are appended (ids grow with every
/// write); when the store holds fewer rows than the index has seen (references deleted), it reloads.
public final class EmbeddingIndex: @unchecked Sendable {
    public let encoder: String
    public let dimensions: Int
    public var exactScanLimit = 100_000
    public var rescoreCount = 1024
    /// Threads of a scan over many vectors (the shared worker pool's, as the model's matrix work).
    public var scanThreads = ProcessInfo.processInfo.activeProcessorCount
    /// Rows per share of a parallel scan: smaller scans run on the calling thread alone.
    static let scanShareRows = 16_384

    private let lock = NSLock()
    private var referenceIds: [Int64] = []
    private var scales: [Float] = []
    private var components: [Int8] = []
    private var codes: [UInt64] = []
    private var slots: [Int64: Int] = [:]
    /// Slots whose reference was re-embedded (its newer row is elsewhere): never returned.
    private var stale: Set<Int> = []
    private var lastRowId: Int64 = 0
    /// Rows seen that belong to another encoder (counted so that the store's total can be compared).
    private var otherEncoderRows = 0
    private var words: Int { (dimensions + 63) / 64 }

    public init(encoder: String, dimensions: Int) {
        self.encoder = encoder
        self.dimensions = dimensions
    }

    public var count: Int { lock.withLock { referenceIds.count - stale.count } }

    /// Brings the index up to date with `store` (cheap when nothing changed: two small reads).
    public func refresh(from store: MemoryStore) throws {
        try lock.withLock {
            let stored = try store.embeddingCount()
            if stored < referenceIds.count - stale.count + otherEncoderRows { clear() }
            while true {
                let rows = try store.embeddingRows(after: lastRowId, limit: 10_000)
                for row in rows { add(row) }
                guard let last = rows.last else { break }
                lastRowId = last.rowId
            }
        }
    }

    /// Adds rows as `refresh` does (rows in row id order), for an index built without a store
    /// (tests, benchmarks).
    public func load(_ rows: [EmbeddingRow]) {
        lock.withLock {
            for row in rows { add(row) }
            if let last = rows.last { lastRowId = max(lastRowId, last.rowId) }
        }
    }

    private func clear() {
        referenceIds = []
        scales = []
        components = []
        codes = []
        slots = [:]
        stale = []
        lastRowId = 0
        otherEncoderRows = 0
    }

    private func add(_ row: EmbeddingRow) {
        guard row.embedding.encoder == encoder, row.embedding.components.count == dimensions else {
            otherEncoderRows += 1
            return
        }
        if let old = slots[row.referenceId] { stale.insert(old) }
        slots[row.referenceId] = referenceIds.count
        referenceIds.append(row.referenceId)
        scales.append(row.embedding.scale)
        components += row.embedding.components
        codes += Self.signBits(row.embedding.components.map { Float($0) }, words: words)
    }

    /// One bit per component, set where it is positive.
    static func signBits(_ vector: [Float], words: Int) -> [UInt64] {
        var bits = [UInt64](repeating: 0, count: words)
        for (i, x) in vector.enumerated() where x > 0 { bits[i / 64] |= 1 << UInt64(i % 64) }
        return bits
    }

    /// The cosine of `query` (unit length) with the stored vector of `referenceId`, or nil when
    /// it has none.
    public func cosine(_ query: [Float], referenceId: Int64) -> Double? {
        lock.withLock {
            guard let slot = slots[referenceId] else { return nil }
            let q = StoredEmbedding(encoder: encoder, vector: query)
            var dot: Int32 = 0
            components.withUnsafeBufferPointer { rows in
                m3_i8_dot_rows(q.components, rows.baseAddress! + slot * dimensions, 1, Int32(dimensions), &dot)
            }
            return Double(Float(dot) * q.scale * scales[slot])
        }
    }

    /// The `count` stored vectors nearest `query` (unit length) by cosine, best first (ties by
    /// reference id).
    public func nearest(_ query: [Float], count wanted: Int) -> [(referenceId: Int64, cosine: Double)] {
        lock.withLock {
            let n = referenceIds.count
            guard wanted > 0, n > 0, query.count == dimensions else { return [] }
            let q = StoredEmbedding(encoder: encoder, vector: query)
            let candidates: [Int] = n <= exactScanLimit ? Array(0 ..< n) : hammingNearest(query, count: max(rescoreCount, wanted))
            var dots = [Int32](repeating: 0, count: candidates.count)
            components.withUnsafeBufferPointer { rows in
                if candidates.count == n {
                    let (base, dims) = (rows.baseAddress!, dimensions)
                    dots.withUnsafeMutableBufferPointer { out in
                        let target = out.baseAddress!
                        forShares(of: n) { range in
                            m3_i8_dot_rows(q.components, base + range.lowerBound * dims, Int32(range.count), Int32(dims),
                                           target + range.lowerBound)
                        }
                    }
                } else {
                    for (i, slot) in candidates.enumerated() {
                        m3_i8_dot_rows(q.components, rows.baseAddress! + slot * dimensions, 1, Int32(dimensions), &dots[i])
                    }
                }
            }
            var scored: [(slot: Int, cosine: Float)] = []
            scored.reserveCapacity(candidates.count)
            for (i, slot) in candidates.enumerated() where !stale.contains(slot) {
                scored.append((slot, Float(dots[i]) * scales[slot]))
            }
            let top = Self.best(scored, count: wanted) { a, b in
                a.cosine != b.cosine ? a.cosine > b.cosine : referenceIds[a.slot] < referenceIds[b.slot]
            }
            return top.map { (referenceIds[$0.slot], Double($0.cosine * q.scale)) }
        }
    }

    /// The slots of the `count` vectors whose sign bits differ least from the query's (all slots at
    /// the cut-off distance are kept, so the result is the same whatever the scan order).
    private func hammingNearest(_ query: [Float], count wanted: Int) -> [Int] {
        let n = referenceIds.count
        let bits = Self.signBits(query, words: words)
        var distances = [UInt16](repeating: 0, count: n)
        let words = self.words
        codes.withUnsafeBufferPointer { codes in
            distances.withUnsafeMutableBufferPointer { out in
                let (source, target) = (codes.baseAddress!, out.baseAddress!)
                forShares(of: n) { range in
                    m3_hamming_rows(bits, source + range.lowerBound * words, Int32(range.count), Int32(words), target + range.lowerBound)
                }
            }
        }
        // Distances are at most the code's bits: a histogram finds the cut-off in one pass. It and
        // the selection below are C loops (as Swift loops they were about a third of a 1M-vector
        // search; docs/retrieval.md).
        let bins = 64 * words + 1
        var histogram = [UInt32](repeating: 0, count: bins)
        m3_u16_histogram(distances, n, &histogram, Int32(bins))
        var cutoff = 0, total = 0
        while cutoff < bins - 1, total + Int(histogram[cutoff]) < wanted {
            total += Int(histogram[cutoff])
            cutoff += 1
        }
        var selected = [UInt32](repeating: 0, count: total + Int(histogram[cutoff]))
        let kept = m3_u16_indices_at_most(distances, n, UInt16(clamping: cutoff), &selected)
        assert(kept == selected.count, "the histogram counted \(selected.count) at most \(cutoff), the selection \(kept)")
        return selected.map { Int($0) }
    }

    /// Runs `body` over contiguous shares of 0..<n: on the worker pool when n is large.
    private func forShares(of n: Int, _ body: (Range<Int>) -> Void) {
        guard n >= 2 * Self.scanShareRows else {
            body(0 ..< n)
            return
        }
        Parallel.forChunks(of: n, threads: scanThreads, minimumChunk: Self.scanShareRows, body)
    }

    /// The first `count` of `items` under `before`, in order, without sorting them all.
    static func best<T>(_ items: [T], count: Int, by before: (T, T) -> Bool) -> [T] {
        guard items.count > count * 4 else { return Array(items.sorted(by: before).prefix(count)) }
        var kept: [T] = []
        kept.reserveCapacity(count + 1)
        for item in items {
            if kept.count == count, let last = kept.last, !before(item, last) { continue }
            let at = kept.firstIndex { before(item, $0) } ?? kept.count
            kept.insert(item, at: at)
            if kept.count > count { kept.removeLast() }
        }
        return kept
    }
}
