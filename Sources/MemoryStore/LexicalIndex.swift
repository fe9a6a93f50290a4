import CKernels
import Foundation

/// An in-memory inverted index of the references' text that scores as SQLite FTS5's `bm25()`
/// does on `reference_fts`, reading a bounded number of postings per query.
///
/// Why: FTS5 computes `bm25()` for every row an OR query matches before it can sort (~1.5 us a
/// row), and a 64-word swap chunk matches nearly every reference of a large store (300 ms at 100k).
/// Dropping the query's common words (`SearchQuery.pruned`, 2,000 postings a query) made that
/// affordable but lost the query's own reference on 30% of queries at 1M. In memory, a query reads
/// 100 times as many postings in less time (a tight loop over arrays instead of FTS5's per-row
/// bm25()), and the references it returns are scored exactly as FTS5 scores them (same tokens
/// through FTS5's own tokenizer, the same formula summed in the same order): `search`.
/// `LexicalIndexTests` compares the two.
///
/// Postings: per term, the slots (references in row id order) that hold it and how many times
/// (counted to 65,535), and the same by reference. ~12 bytes per distinct (reference, term), ~30
/// per reference.
/// Kept current by `refresh` (rows written since the last look are appended; when the store holds
/// another number of references than the index, references were deleted: it rebuilds).
/// Not thread-safe: `MemoryStore` calls it under its own lock.
final class LexicalIndex {
    /// FTS5's bm25 constants (fts5_aux.c).
    static let k1 = 1.2, b = 0.75

    private let tokenizer: FTS5Tokenizer
    private var termIds: [String: Int] = [:]
    private var postingSlots: [[UInt32]] = []
    private var postingCounts: [[UInt16]] = []
    /// The same pairs by reference (the forward index): slot s's terms and counts are at
    /// `forwardStart[s] ..< forwardStart[s + 1]`. Scoring a candidate exactly reads its own few
    /// dozen entries instead of searching every query term's posting list for it (at 1M references
    /// that search was most of a 50-candidate query's time).
    private var forwardTerms: [UInt32] = []
    private var forwardCounts: [UInt16] = []
    private var forwardStart: [Int] = [0]
    private var referenceIds: [Int64] = []
    private var lengths: [UInt32] = []
    private var totalTokens = 0
    /// Scratch of `accumulate`, per slot: x its partial score (zero between searches), y its
    /// k1 (1 - b + b D / avgdl) for the (references, tokens) of `normsKey`; and room for the slots
    /// a search touches (one per posting it reads, at most) and their sums, kept between searches.
    private var accumulator: [SIMD2<Float>] = []
    private var normsKey = (0, 0)
    private var touched: [UInt32] = []
    private var touchedSums: [Float] = []
    private(set) var lastRowId: Int64 = 0

    init() throws(SQLiteError) {
        tokenizer = try FTS5Tokenizer()
    }

    var count: Int { referenceIds.count }

    /// Memory held, roughly: postings (4 + 2 bytes each, both ways), per reference its id, length,
    /// forward offset and accumulator cell, per term its name and array headers.
    var approximateBytes: Int {
        let postings = postingSlots.reduce(0) { $0 + $1.capacity * 4 } + postingCounts.reduce(0) { $0 + $1.capacity * 2 }
        let forward = forwardTerms.capacity * 4 + forwardCounts.capacity * 2
        return postings + forward + referenceIds.count * (8 + 4 + 8 + 8) + termIds.count * 96
            + touched.capacity * 4 + touchedSums.capacity * 4
    }

    func clear() {
        termIds = [:]
        postingSlots = []
        postingCounts = []
        forwardTerms = []
        forwardCounts = []
        forwardStart = [0]
        referenceIds = []
        lengths = []
        accumulator = []
        normsKey = (0, 0)
        touched = []
        touchedSums = []
        totalTokens = 0
        lastRowId = 0
    }

    /// Adds one reference's text; ids must grow from call to call (as row ids do).
    func add(referenceId: Int64, text: String) {
        precondition(referenceId > lastRowId, "references are added in row id order")
        let slot = UInt32(referenceIds.count)
        referenceIds.append(referenceId)
        lastRowId = referenceId
        let tokens = tokenizer.tokens(text)
        lengths.append(UInt32(tokens.count))
        totalTokens += tokens.count
        var counts: [Int: Int] = [:]
        for token in tokens {
            let term: Int
            if let known = termIds[token] {
                term = known
            } else {
                term = postingSlots.count
                termIds[token] = term
                postingSlots.append([])
                postingCounts.append([])
            }
            counts[term, default: 0] += 1
        }
        for (term, n) in counts {
            let count = UInt16(min(n, Int(UInt16.max)))
            postingSlots[term].append(slot)
            postingCounts[term].append(count)
            forwardTerms.append(UInt32(term))
            forwardCounts.append(count)
        }
        forwardStart.append(forwardTerms.count)
    }

    /// The query's phrases as FTS5 reads `SearchQuery.expression(words)`: one per word, in order,
    /// each the term it tokenizes to (nil: the word tokenizes to nothing and matches nothing).
    /// Returns nil when a word tokenizes to several tokens (an FTS5 phrase needs positions, which
    /// this index does not keep: the caller asks FTS5).
    func phrases(_ words: [String]) -> [String?]? {
        var phrases: [String?] = []
        for word in words {
            let tokens = tokenizer.tokens(word, query: true)
            guard tokens.count <= 1 else { return nil }
            phrases.append(tokens.first)
        }
        return phrases
    }

    /// The `limit` best references for the phrases, best first by FTS5's bm25 score (higher is
    /// better; FTS5's `-bm25()`), ties by reference id; only references holding a phrase.
    ///
    /// Candidates come from the query's rarest terms, term at a time into one accumulator, as long
    /// as the postings they read stay within `postingBudget` (the rarest term is always read);
    /// the `candidates(limit)` best of them are then scored exactly, every phrase in query order as
    /// FTS5 sums them. When every term fits the budget this is FTS5's ranking; past it a reference
    /// that would rank only through the query's commonest words (the lowest IDF) can be missed,
    /// but every score returned is FTS5's.
    func search(_ phrases: [String?], limit: Int) -> [(referenceId: Int64, score: Double)] {
        let rows = referenceIds.count
        guard limit > 0, rows > 0 else { return [] }
        let averageLength = Double(totalTokens) / Double(rows)
        // Per phrase: its term (nil: matches nothing) and IDF, as fts5Bm25GetData computes them.
        let phraseTerms: [Int?] = phrases.map { $0.flatMap { termIds[$0] } }
        let idf: [Double] = phraseTerms.map { term in
            let hits = term.map { postingSlots[$0].count } ?? 0
            let value = log((Double(rows - hits) + 0.5) / (Double(hits) + 0.5))
            return value <= 0 ? 1e-6 : value
        }
        // Distinct terms with the IDF of all their phrases together, rarest first.
        var weights: [Int: Double] = [:]
        for (i, term) in phraseTerms.enumerated() { if let term { weights[term, default: 0] += idf[i] } }
        let terms = weights.keys.sorted {
            postingSlots[$0].count != postingSlots[$1].count ? postingSlots[$0].count < postingSlots[$1].count : $0 < $1
        }
        guard !terms.isEmpty else { return [] }
        var read = 0
        var kept: [Int] = []
        for term in terms where kept.isEmpty || read + postingSlots[term].count <= postingBudget {
            kept.append(term)
            read += postingSlots[term].count
        }
        let candidates = accumulate(kept, weights: weights, averageLength: averageLength, count: Self.candidates(limit))
        // Exact scores: each query term's frequency in each candidate, from the candidate's own
        // entries, then each phrase's part summed in query order, as FTS5 sums them.
        let distinct = terms
        let column = Dictionary(uniqueKeysWithValues: distinct.enumerated().map { ($1, $0) })
        var frequencies = [UInt16](repeating: 0, count: candidates.count * distinct.count)
        for (row, slot) in candidates.enumerated() {
            for entry in forwardStart[Int(slot)] ..< forwardStart[Int(slot) + 1] {
                if let c = column[Int(forwardTerms[entry])] { frequencies[row * distinct.count + c] = forwardCounts[entry] }
            }
        }
        let phraseColumns = phraseTerms.map { $0.map { column[$0]! } }
        var scored: [(slot: UInt32, score: Double)] = candidates.enumerated().map { row, slot in
            let norm = Self.k1 * (1 - Self.b + Self.b * Double(lengths[Int(slot)]) / averageLength)
            var score = 0.0
            for (p, c) in phraseColumns.enumerated() {
                guard let c else { continue }
                let tf = Double(frequencies[row * distinct.count + c])
                guard tf > 0 else { continue }
                score += idf[p] * ((tf * (Self.k1 + 1.0)) / (tf + norm))
            }
            return (slot, score)
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.slot < $1.slot }
        return scored.prefix(limit).map { (referenceIds[Int($0.slot)], $0.score) }
    }

    /// Postings one query may read before its commoner terms are left out of candidate generation.
    /// At 1M synthetic references (`memory3 bench-retrieval`, docs/retrieval.md) budgets of 100k,
    /// 200k and 400k all kept the query's reference first; BM25 p50 / p99 4.3 / 15.9, 4.8 / 5.6 and
    /// 5.6 / 8.9 ms.
    var postingBudget = 200_000
    /// References scored exactly per query: enough that the last few places of `limit` are not
    /// decided by the partial sums.
    static func candidates(_ limit: Int) -> Int { limit + 16 }

    /// The `count` slots with the highest sums of `weights[t]` x the frequency factor over `terms`
    /// (term at a time into `accumulator`, which is left zeroed again). The loops over postings
    /// are `m3_bm25_accumulate` / `m3_bm25_collect` (kernels_bm25.c), which ask for each posting's
    /// cell ahead of it (measured in docs/retrieval.md: about half of BM25's time at 1M).
    private func accumulate(_ terms: [Int], weights: [Int: Double], averageLength: Double, count: Int) -> [UInt32] {
        let rows = referenceIds.count
        if normsKey != (rows, totalTokens) {
            // Each reference's k1 (1 - b + b D / avgdl), beside its partial sum (one cache line per
            // posting read instead of two): changes only when the store does.
            let k1 = Self.k1, b = Self.b
            accumulator = lengths.map { SIMD2(0, Float(k1 * (1 - b + b * Double($0) / averageLength))) }
            normsKey = (rows, totalTokens)
        }
        let k1 = Float(Self.k1)
        var best = TopSlots(limit: count)
        // Every posting may touch a new slot: room for all of them.
        let postings = terms.reduce(0) { $0 + postingSlots[$1].count }
        if touched.count < postings {
            touched = [UInt32](repeating: 0, count: postings)
            touchedSums = [Float](repeating: 0, count: postings)
        }
        var touchedCount = 0
        accumulator.withUnsafeMutableBufferPointer { cells in
            cells.withMemoryRebound(to: Float.self) { floats in
                touched.withUnsafeMutableBufferPointer { out in
                    for term in terms {
                        touchedCount = addPostings(of: term, weight: Float(weights[term]!) * (k1 + 1), cells: floats.baseAddress,
                                                   touched: out.baseAddress, touchedCount: touchedCount)
                    }
                    // The best `count` by partial sum (ties to the lower slot), the sums zeroed.
                    touchedSums.withUnsafeMutableBufferPointer { sums in
                        m3_bm25_collect(floats.baseAddress, out.baseAddress, touchedCount, sums.baseAddress)
                        for i in 0 ..< touchedCount { best.offer(out[i], sums[i]) }
                    }
                }
            }
        }
        return best.slots
    }

    /// One term's postings into the cells (`m3_bm25_accumulate`); returns the new touched count.
    private func addPostings(of term: Int, weight: Float, cells: UnsafeMutablePointer<Float>?, touched: UnsafeMutablePointer<UInt32>?,
                             touchedCount: Int) -> Int {
        postingSlots[term].withUnsafeBufferPointer { slots in
            postingCounts[term].withUnsafeBufferPointer { counts in
                m3_bm25_accumulate(slots.baseAddress, counts.baseAddress, slots.count, weight, cells, touched, touchedCount)
            }
        }
    }
}

/// The best `limit` slots by score (ties to the lower slot), kept in a binary heap whose root is
/// the worst kept.
private struct TopSlots {
    let limit: Int
    private var heap: [(slot: UInt32, score: Float)] = []

    init(limit: Int) {
        self.limit = limit
        heap.reserveCapacity(limit)
    }

    var slots: [UInt32] { heap.map(\.slot) }

    /// a ranks below b.
    private static func worse(_ a: (slot: UInt32, score: Float), _ b: (slot: UInt32, score: Float)) -> Bool {
        a.score != b.score ? a.score < b.score : a.slot > b.slot
    }

    mutating func offer(_ slot: UInt32, _ score: Float) {
        let item = (slot: slot, score: score)
        if heap.count < limit {
            heap.append(item)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard Self.worse(heap[child], heap[parent]) else { break }
                heap.swapAt(child, parent)
                child = parent
            }
            return
        }
        guard limit > 0, Self.worse(heap[0], item) else { return }
        heap[0] = item
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var worst = parent
            if left < heap.count, Self.worse(heap[left], heap[worst]) { worst = left }
            if right < heap.count, Self.worse(heap[right], heap[worst]) { worst = right }
            guard worst != parent else { return }
            heap.swapAt(parent, worst)
            parent = worst
        }
    }
}
