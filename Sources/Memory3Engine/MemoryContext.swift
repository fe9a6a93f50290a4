import Foundation
import Memory3Memory
import Memory3Model
import Tokenizer

/// The state of one generation with explicit memory: the KV cache of the context, the memories
/// of the current chunk, and the record of what each chunk used.
///
/// The context is read in chunks of `memoryInterval` tokens. Each prompt chunk retrieves its own
/// memories with its own text as the query; while generating, the memories are swapped every
/// `memoryInterval` tokens using the last `memoryInterval` tokens as the query. Memory keys keep
/// their in-reference positions; the context starts at `contextOffset`.
final class MemoryContext: ContextFeeder {
    let model: LlamaModel
    let tokenizer: Tokenizer
    let source: MemorySource
    let policy: MemoryReadingPolicy
    let cache: KVCache
    /// Every token fed so far (prompt, then generated).
    private(set) var tokens: [Int] = []
    /// Which fed tokens may be part of a retrieval query (chat templates mark their own text out).
    private var retrievable: [Bool] = []
    private(set) var records: [ChunkRecord] = []
    private var segments: [MemorySegment] = []
    /// Tokens fed since the generation phase began.
    private var generatedFed = 0
    private(set) var retrievalSeconds = 0.0

    init(model: LlamaModel, tokenizer: Tokenizer, source: MemorySource, policy: MemoryReadingPolicy, capacity: Int) {
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.policy = policy
        self.cache = model.makeCache(capacity: capacity, positionOffset: policy.contextOffset)
    }

    /// Reads the prompt chunk by chunk; returns the logits after its last token (or, with
    /// `allLogits`, after every token).
    func readPrompt(_ prompt: [Int], retrievable mask: [Bool]?, allLogits: Bool = false) throws -> [Float] {
        var logits: [Float] = []
        var start = 0
        while start < prompt.count {
            let end = min(start + policy.memoryInterval, prompt.count)
            let chunk = Array(prompt[start ..< end])
            let chunkMask = mask.map { Array($0[start ..< end]) } ?? [Bool](repeating: true, count: chunk.count)
            let query = queryText(chunk, mask: chunkMask)
            try swapMemories(query: query, phase: .prompt, chunk: chunk)
            let out = try model.forward(chunk, cache: cache, memory: segments, logits: allLogits ? .all : .last)
            tokens += chunk
            retrievable += chunkMask
            if allLogits { logits += out } else { logits = out }
            start = end
        }
        return logits
    }

    /// Feeds generated (or teacher-forced) tokens, swapping memories every `memoryInterval`
    /// tokens; returns the logits after the last one (or after each, with `allLogits`).
    func readGenerated(_ new: [Int], allLogits: Bool = false) throws -> [Float] {
        var logits: [Float] = []
        var start = 0
        while start < new.count {
            if generatedFed > 0 && generatedFed % policy.memoryInterval == 0 {
                let window = Array(tokens.suffix(policy.memoryInterval))
                let mask = Array(retrievable.suffix(policy.memoryInterval))
                try swapMemories(query: queryText(window, mask: mask), phase: .generation, chunk: [new[start]])
            }
            let untilSwap = policy.memoryInterval - generatedFed % policy.memoryInterval
            let end = min(new.count, start + untilSwap)
            let piece = Array(new[start ..< end])
            let out = try model.forward(piece, cache: cache, memory: segments, logits: allLogits ? .all : .last)
            if allLogits { logits += out } else { logits = out }
            tokens += piece
            retrievable += [Bool](repeating: true, count: piece.count)
            generatedFed += piece.count
            start = end
        }
        return logits
    }

    /// Which prompt tokens may be part of a retrieval query, for `feedPrompt` (nil: all).
    var promptRetrievable: [Bool]?

    func feedPrompt(_ tokens: [Int]) throws -> [Float] {
        try readPrompt(tokens, retrievable: promptRetrievable)
    }

    func feedGenerated(_ token: Int) throws -> [Float] {
        try readGenerated([token])
    }

    var remainingCapacity: Int { cache.capacity - cache.count }

    /// The chunk's text for retrieval: control tokens and masked-out tokens removed.
    func queryText(_ chunk: [Int], mask: [Bool]) -> String {
        var kept: [Int] = []
        for (t, ok) in zip(chunk, mask) where ok && !tokenizer.isControl(t) { kept.append(t) }
        return tokenizer.decode(kept)
    }

    /// Retrieves, loads, reranks and biases the memories of a new chunk.
    private func swapMemories(query: String, phase: ChunkRecord.Phase, chunk: [Int]) throws {
        let started = Date()
        defer { retrievalSeconds += Date().timeIntervalSince(started) }
        var record = ChunkRecord(phase: phase, firstToken: tokens.count, tokenCount: chunk.count, query: query, references: [])
        segments = []
        var hits = query.isEmpty ? [] : try source.retrieve(query, limit: policy.memoriesPerChunk)
        if let minimum = policy.minimumScore { hits = hits.filter { $0.score >= minimum } }
        if let ratio = policy.gateRatio, let best = hits.first?.score, best > 0 {
            hits = hits.filter { $0.score >= ratio * best }
        }
        guard !hits.isEmpty else {
            records.append(record)
            return
        }
        let memories = try hits.map { try source.memory(for: $0.referenceId) }
        // One shared sink: the memory read first keeps its reference prefix, the others lose it.
        // Each memory is copied (to fp16, as attention reads it) once per swap without its prefix,
        // and the whole of a memory once at most, for the rerank probe and the read alike.
        let bodies = memories.map { $0.segment(dropPrefix: true) }
        var wholes: [Int: MemorySegment] = [:]
        func whole(_ i: Int) -> MemorySegment {
            if let segment = wholes[i] { return segment }
            let segment = memories[i].segment()
            wholes[i] = segment
            return segment
        }
        var order = Array(hits.indices)
        var masses: [Float?] = Array(repeating: nil, count: hits.count)

        if let head = policy.retrievalHead, hits.count > 1 {
            // Rerank: the retrieval head's attention mass over each memory, read without bias.
            let probe = AttentionProbe(layers: [head.layer], heads: [head.head])
            try model.probeAttention(chunk, cache: cache, memory: [whole(0)] + bodies.dropFirst(), probe: probe,
                                     throughLayer: head.layer)
            if let mass = probe.meanMass(layer: head.layer, head: head.head) {
                let scores = policy.rerankScores(mass: mass, retrievalScores: hits.map(\.score))
                order = scores.indices.sorted { scores[$0] > scores[$1] }
                masses = order.map { mass[$0] }
            }
        }
        hits = order.map { hits[$0] }

        let best = hits.map(\.score).max() ?? 0
        for (rank, hit) in hits.enumerated() {
            let bias = policy.bias(rank: rank, score: hit.score, best: best)
            var segment = rank == 0 ? whole(order[0]) : bodies[order[rank]]
            segment.logitBias = bias
            segments.append(segment)
            record.references.append(ChunkRecord.UsedReference(
                referenceId: hit.referenceId, documentId: hit.documentId, score: hit.score,
                rank: rank, bias: bias, headMass: masses[rank]))
        }
        records.append(record)
    }
}
