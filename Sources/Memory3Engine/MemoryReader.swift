import Foundation
import Memory3Memory
import Memory3Model
import Tokenizer

/// The Memory3 read of one sequence: its memories, its 64-token swap schedule, and the record of
/// what each chunk used.
///
/// The context is read in chunks of `memoryInterval` tokens. Each prompt chunk retrieves its own
/// memories with its own text as the query; while generating, the memories are swapped every
/// `memoryInterval` tokens using the last `memoryInterval` tokens as the query. Memory keys keep
/// their in-reference positions; the context starts at `contextOffset`.
final class MemoryReader: ContextReader {
    let tokenizer: Tokenizer
    let source: MemorySource
    let policy: MemoryReadingPolicy
    /// Every token fed so far (prompt, then generated), and which may be part of a query (chat
    /// templates mark their own text out).
    private(set) var tokens: [Int] = []
    private var retrievable: [Bool] = []
    /// What each chunk read, with the retrieval hits it was chosen from (prompt caching checks
    /// them before reusing a chunk's key/values).
    private(set) var readings: [ChunkReading] = []
    private(set) var segments: [MemorySegment] = []
    /// Tokens fed since the generation phase began.
    private var generatedFed = 0
    private(set) var retrievalSeconds = 0.0

    var contextOffset: Int { policy.contextOffset }
    var records: [ChunkRecord] { readings.map(\.record) }

    init(tokenizer: Tokenizer, source: MemorySource, policy: MemoryReadingPolicy) {
        self.tokenizer = tokenizer
        self.source = source
        self.policy = policy
    }

    // MARK: ContextReader

    func promptPiece(from index: Int, promptCount: Int, limit: Int) -> Int {
        let chunkEnd = (index / policy.memoryInterval + 1) * policy.memoryInterval
        return min(limit, min(chunkEnd, promptCount) - index)
    }

    func swapBefore(prompt piece: Range<Int>, of prompt: [Int], retrievable mask: [Bool]?) throws -> PendingSwap? {
        guard piece.lowerBound % policy.memoryInterval == 0 else { return nil }
        let chunk = piece.lowerBound ..< min(piece.lowerBound + policy.memoryInterval, prompt.count)
        let chunkTokens = Array(prompt[chunk])
        let query = queryText(chunkTokens, mask: mask.map { Array($0[chunk]) })
        return try beginSwap(query: query, phase: .prompt, firstToken: chunk.lowerBound, tokenCount: chunk.count,
                             probeTokens: chunkTokens)
    }

    func swapBefore(generated token: Int) throws -> PendingSwap? {
        guard generatedFed > 0, generatedFed % policy.memoryInterval == 0 else { return nil }
        let window = Array(tokens.suffix(policy.memoryInterval))
        let mask = Array(retrievable.suffix(policy.memoryInterval))
        return try beginSwap(query: queryText(window, mask: mask), phase: .generation, firstToken: tokens.count,
                             tokenCount: 1, probeTokens: [token])
    }

    func didFeed(_ fed: [Int], retrievable mask: [Bool]?, generated: Bool) {
        tokens += fed
        retrievable += mask ?? [Bool](repeating: true, count: fed.count)
        if generated { generatedFed += fed.count }
    }

    // MARK: Swaps

    /// The chunk's text for retrieval: control tokens and masked-out tokens removed.
    func queryText(_ chunk: [Int], mask: [Bool]?) -> String {
        var kept: [Int] = []
        for (i, t) in chunk.enumerated() where (mask?[i] ?? true) && !tokenizer.isControl(t) { kept.append(t) }
        return tokenizer.decode(kept)
    }

    /// The retriever's hits for `query` after the policy's filters.
    func hits(for query: String) throws -> [RetrievedReference] {
        var hits = query.isEmpty ? [] : try source.retrieve(query, limit: policy.memoriesPerChunk, retriever: policy.retriever)
        if let minimum = policy.minimumScore { hits = hits.filter { $0.score >= minimum } }
        if let ratio = policy.gateRatio, let best = hits.first?.score, best > 0 {
            hits = hits.filter { $0.score >= ratio * best }
        }
        return hits
    }

    /// Retrieves and loads a new chunk's memories; the read starts from them once the swap is
    /// complete (after its probe pass, when it reranks).
    private func beginSwap(query: String, phase: ChunkRecord.Phase, firstToken: Int, tokenCount: Int,
                           probeTokens: [Int]) throws -> PendingSwap {
        let started = Date().timeIntervalSinceReferenceDate
        let record = ChunkRecord(phase: phase, firstToken: firstToken, tokenCount: tokenCount, query: query, references: [])
        let hits = try hits(for: query)
        let memories = try hits.map { try source.memory(for: $0.referenceId) }
        let swap = PendingSwap(record: record, hits: hits, memories: memories, started: started)
        if let head = policy.retrievalHead, hits.count > 1 {
            swap.requestProbe(head: head, tokens: probeTokens)
        }
        return swap
    }

    /// Reranks by the probe's mass (when it ran), biases, and makes the memories current.
    func complete(_ swap: PendingSwap) {
        defer { retrievalSeconds += Date().timeIntervalSinceReferenceDate - swap.started }
        var order = Array(swap.hits.indices)
        var masses: [Float?] = Array(repeating: nil, count: swap.hits.count)
        if let probe = swap.probe, let head = policy.retrievalHead, let mass = probe.meanMass(layer: head.layer, head: head.head) {
            let scores = policy.rerankScores(mass: mass, retrievalScores: swap.hits.map(\.score))
            order = scores.indices.sorted { scores[$0] > scores[$1] }
            masses = order.map { mass[$0] }
        }
        let ordered = order.map { swap.hits[$0] }
        let best = ordered.map(\.score).max() ?? 0
        var record = swap.record
        segments = []
        for (rank, hit) in ordered.enumerated() {
            let bias = policy.bias(rank: rank, score: hit.score, best: best)
            // One shared sink: the memory read first keeps its reference prefix, the others lose it.
            var segment = rank == 0 ? swap.whole(order[0]) : swap.bodies[order[rank]]
            segment.logitBias = bias
            segments.append(segment)
            record.references.append(ChunkRecord.UsedReference(
                referenceId: hit.referenceId, documentId: hit.documentId, score: hit.score,
                rank: rank, bias: bias, headMass: masses[rank]))
        }
        readings.append(ChunkReading(record: record, hits: swap.hits))
    }

    // MARK: Prompt caching

    /// Continues from a cached sequence's first prompt chunks: `readings` are theirs (already
    /// checked to still hold), `tokens` the prompt tokens they cover. When the last of them is
    /// being continued mid-chunk, its memories are loaded again in the recorded order and bias.
    func resume(readings cached: [ChunkReading], tokens fed: [Int], retrievable mask: [Bool]?) throws {
        readings = cached
        tokens = fed
        retrievable = mask.map { Array($0.prefix(fed.count)) } ?? [Bool](repeating: true, count: fed.count)
        segments = []
        guard let last = cached.last, fed.count % policy.memoryInterval != 0 else { return }
        segments = try last.record.references.map { used in
            try source.memory(for: used.referenceId).segment(logitBias: used.bias, dropPrefix: used.rank > 0)
        }
    }
}

/// One chunk's read as prompt caching needs it: the record, and the hits it was chosen from.
struct ChunkReading: Sendable {
    var record: ChunkRecord
    let hits: [RetrievedReference]
}
