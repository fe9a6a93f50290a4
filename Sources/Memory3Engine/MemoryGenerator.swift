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

/// One generation at a time with a knowledge base, in one of three modes: explicit memory (the
/// Memory3 read), text (classic RAG, for comparison and fallback) or off. The command line, the
/// eval and the benchmarks use it; it runs one `GenerationSequence` alone through the same
/// `SequenceBatcher` the server batches with.
public struct MemoryGenerator: Sendable {
    public let batcher: SequenceBatcher

    public init(model: any DecoderModel, tokenizer: Tokenizer, source: MemorySource?, policy: MemoryReadingPolicy = MemoryReadingPolicy()) {
        self.batcher = SequenceBatcher(model: model, tokenizer: tokenizer, source: source, policy: policy)
    }

    public var model: any DecoderModel { batcher.model }
    public var tokenizer: Tokenizer { batcher.tokenizer }
    public var source: MemorySource? { batcher.source }
    public var policy: MemoryReadingPolicy { batcher.policy }

    /// Generates after `prompt`. `retrievable` marks the prompt tokens whose text may be used as
    /// a retrieval query (nil: all); chat callers mark out the template and the system prompt.
    /// `onText` receives text as it becomes final; returning false stops the generation.
    public func generate(prompt: [Int], retrievable: [Bool]? = nil, mode: MemoryMode, options: GenerationOptions,
                         onText: (String) -> Bool = { _ in true }) throws -> MemoryGenerationResult {
        let request = GenerationRequest(prompt: prompt, retrievable: retrievable, options: options, memoryMode: mode,
                                        memoryK: policy.memoriesPerChunk)
        let sequence = try batcher.makeSequence(request)
        let result = try batcher.run(sequence, onText: onText)
        return MemoryGenerationResult(generation: result, mode: mode, chunks: sequence.records,
                                      retrievalSeconds: sequence.retrievalSeconds)
    }

    /// Log-probability of `continuation` after `prompt` under a mode (teacher forcing), with the
    /// chunk records; the eval uses it to measure how much a mode helps the right answer.
    public func continuationLogProbability(prompt: [Int], retrievable: [Bool]? = nil, continuation: [Int],
                                           mode: MemoryMode) throws -> (logProbability: Double, chunks: [ChunkRecord]) {
        guard !continuation.isEmpty else { return (0, []) }
        let request = GenerationRequest(prompt: prompt, retrievable: retrievable, options: GenerationOptions(maxTokens: continuation.count),
                                        memoryMode: mode, memoryK: policy.memoriesPerChunk)
        let (rows, records) = try batcher.forcedLogits(request, continuation: continuation)
        let vocab = model.config.vocabularySize
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
}
