import Memory3Engine
import Memory3Model

/// One generation the server asks of the engine, prompt already tokenized.
public typealias CompletionJob = GenerationRequest

/// What a generation produced: the text and counts, and which memories each chunk used.
public struct CompletionOutcome: Sendable {
    public var text: String
    public var promptTokens: Int
    /// Prompt tokens whose key/values were reused from an earlier request (prompt caching).
    public var cachedPromptTokens: Int
    public var completionTokens: Int
    public var finishReason: FinishReason
    public var seed: UInt64
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    public var memoryMode: MemoryMode
    public var memoryChunks: [ChunkRecord]
    public var retrievalSeconds: Double
    /// Per generated token, when the request asked for log-probabilities.
    public var logprobs: [TokenLogprob] = []
    /// Per prompt token after the first, when the request asked for them (`echo` + `logprobs`).
    public var promptLogprobs: [TokenLogprob] = []

    public init(text: String, promptTokens: Int, cachedPromptTokens: Int = 0, completionTokens: Int, finishReason: FinishReason,
                seed: UInt64 = 0, prefillSeconds: Double = 0, decodeSeconds: Double = 0, memoryMode: MemoryMode = .off,
                memoryChunks: [ChunkRecord] = [], retrievalSeconds: Double = 0) {
        self.text = text
        self.promptTokens = promptTokens
        self.cachedPromptTokens = cachedPromptTokens
        self.completionTokens = completionTokens
        self.finishReason = finishReason
        self.seed = seed
        self.prefillSeconds = prefillSeconds
        self.decodeSeconds = decodeSeconds
        self.memoryMode = memoryMode
        self.memoryChunks = memoryChunks
        self.retrievalSeconds = retrievalSeconds
    }

    public init(_ result: GenerationResult, memoryMode: MemoryMode = .off, chunks: [ChunkRecord] = [], retrievalSeconds: Double = 0) {
        self.init(text: result.text, promptTokens: result.promptTokenCount, cachedPromptTokens: result.cachedPromptTokens,
                  completionTokens: result.tokens.count, finishReason: result.finishReason, seed: result.seed,
                  prefillSeconds: result.prefillSeconds, decodeSeconds: result.decodeSeconds, memoryMode: memoryMode,
                  memoryChunks: chunks, retrievalSeconds: retrievalSeconds)
        self.logprobs = result.logprobs
        self.promptLogprobs = result.promptLogprobs
    }
}
