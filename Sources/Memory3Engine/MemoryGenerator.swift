import Foundation
import Memory3Memory
import Memory3Model
import Tokenizer

/// What a generation with memory returns: the text and tokens, and which references each chunk
/// of the context used.
public struct MemoryGenerationResult: Sendable {
    public var generation: GenerationResult
    public var mode: MemoryMode
    public var chunks: [ChunkRecord]
    /// Time spent retrieving, loading and reranking memories.
    public var retrievalSeconds: Double
}

/// Generation with a knowledge base, in one of three modes: explicit memory (the Memory3 read),
/// text (classic RAG, for comparison and fallback) or off.
public struct MemoryGenerator: Sendable {
    public let generator: TextGenerator
    public let source: MemorySource?
    public let policy: MemoryReadingPolicy

    public init(model: LlamaModel, tokenizer: Tokenizer, source: MemorySource?, policy: MemoryReadingPolicy = MemoryReadingPolicy()) {
        self.generator = TextGenerator(model: model, tokenizer: tokenizer)
        self.source = source
        self.policy = policy
    }

    var model: LlamaModel { generator.model }
    var tokenizer: Tokenizer { generator.tokenizer }

    /// Generates after `prompt`. `retrievable` marks the prompt tokens whose text may be used as
    /// a retrieval query (nil: all); chat callers mark out the template and the system prompt.
    public func generate(prompt: [Int], retrievable: [Bool]? = nil, mode: MemoryMode, options: GenerationOptions,
                         onText: (String) -> Bool = { _ in true }) throws -> MemoryGenerationResult {
        switch try plan(prompt: prompt, retrievable: retrievable, mode: mode, extraTokens: options.maxTokens) {
        case .plain(let tokens, let records, let seconds):
            let result = try generator.generate(prompt: tokens, options: options, onText: onText)
            return MemoryGenerationResult(generation: result, mode: mode, chunks: records, retrievalSeconds: seconds)
        case .explicit(let context):
            context.promptRetrievable = retrievable
            let result = try generator.generate(prompt: prompt, in: context, options: options, onText: onText)
            return MemoryGenerationResult(generation: result, mode: mode, chunks: context.records,
                                          retrievalSeconds: context.retrievalSeconds)
        }
    }

    /// Log-probability of `continuation` after `prompt` under a mode (teacher forcing), with the
    /// chunk records; the eval uses it to measure how much a mode helps the right answer.
    public func continuationLogProbability(prompt: [Int], retrievable: [Bool]? = nil, continuation: [Int],
                                           mode: MemoryMode) throws -> (logProbability: Double, chunks: [ChunkRecord]) {
        guard !continuation.isEmpty else { return (0, []) }
        let vocab = model.config.vocabularySize
        var rows: [Float]
        var records: [ChunkRecord]
        switch try plan(prompt: prompt, retrievable: retrievable, mode: mode, extraTokens: continuation.count) {
        case .plain(let tokens, let r, _):
            // Logits only where the continuation is predicted: after the prompt, then after each
            // continuation token but the last (the vocabulary projection is the costly part).
            let cache = model.makeCache(capacity: tokens.count + continuation.count)
            rows = try model.forward(tokens, cache: cache, logits: .last)
            if continuation.count > 1 {
                rows += try model.forward(Array(continuation.dropLast()), cache: cache, logits: .all)
            }
            records = r
        case .explicit(let context):
            rows = try context.readPrompt(prompt, retrievable: retrievable)
            if continuation.count > 1 {
                rows += try context.readGenerated(Array(continuation.dropLast()), allLogits: true)
            }
            records = context.records
        }
        var total = 0.0
        for (i, token) in continuation.enumerated() {
            total += Self.logSoftmax(rows[i * vocab ..< (i + 1) * vocab], at: token)
        }
        return (total, records)
    }

    static func logSoftmax(_ row: ArraySlice<Float>, at index: Int) -> Double {
        let maxLogit = Double(row.max() ?? 0)
        var sum = 0.0
        for l in row { sum += exp(Double(l) - maxLogit) }
        return Double(row[row.startIndex + index]) - maxLogit - log(sum)
    }

    private enum Plan {
        case plain(tokens: [Int], records: [ChunkRecord], retrievalSeconds: Double)
        case explicit(MemoryContext)
    }

    private func plan(prompt: [Int], retrievable: [Bool]?, mode: MemoryMode, extraTokens: Int) throws -> Plan {
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        let limit = model.config.contextLength
        switch (mode, source) {
        case (.off, _), (_, nil):
            return .plain(tokens: prompt, records: [], retrievalSeconds: 0)
        case (.text, let source?):
            let started = Date()
            var kept: [Int] = []
            for (i, t) in prompt.enumerated() where (retrievable?[i] ?? true) && !tokenizer.isControl(t) { kept.append(t) }
            let query = tokenizer.decode(kept)
            let hits = query.isEmpty ? [] : try source.retrieve(query, limit: policy.memoriesPerChunk)
            let texts = try hits.map { try source.text(for: $0.referenceId) }
            let context = texts.isEmpty ? [] : tokenizer.encode(texts.joined(separator: "\n\n") + "\n\n", parseSpecial: false)
            let record = ChunkRecord(
                phase: .prompt, firstToken: 0, tokenCount: prompt.count, query: query,
                references: hits.enumerated().map { rank, hit in
                    ChunkRecord.UsedReference(referenceId: hit.referenceId, documentId: hit.documentId, score: hit.score,
                                              rank: rank, bias: 0, headMass: nil)
                })
            guard context.count + prompt.count + 1 <= limit else {
                throw ModelError.contextFull(needed: context.count + prompt.count + 1, capacity: limit)
            }
            return .plain(tokens: context + prompt, records: [record], retrievalSeconds: Date().timeIntervalSince(started))
        case (.explicit, let source?):
            // Context positions start at contextOffset: the cache holds prompt + generated tokens.
            let capacity = min(prompt.count + max(extraTokens, 0), limit - policy.contextOffset)
            guard prompt.count < capacity || extraTokens == 0 else {
                throw ModelError.contextFull(needed: policy.contextOffset + prompt.count + 1, capacity: limit)
            }
            return .explicit(MemoryContext(model: model, tokenizer: tokenizer, source: source, policy: policy,
                                           capacity: max(capacity, prompt.count)))
        }
    }
}
