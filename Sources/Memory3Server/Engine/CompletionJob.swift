import Memory3Engine
import Memory3Model

/// One generation the server asks of the engine, prompt already tokenized.
public struct CompletionJob: Sendable {
    public var prompt: [Int]
    /// Which prompt tokens may serve as retrieval queries (nil: all). Chat prompts mark out the
    /// template's markup and the system prompt.
    public var retrievable: [Bool]?
    public var options: GenerationOptions
    public var memoryMode: MemoryMode
    /// Memories retrieved per 64-token chunk.
    public var memoryK: Int

    public init(prompt: [Int], retrievable: [Bool]? = nil, options: GenerationOptions, memoryMode: MemoryMode = .off, memoryK: Int = 5) {
        self.prompt = prompt
        self.retrievable = retrievable
        self.options = options
        self.memoryMode = memoryMode
        self.memoryK = memoryK
    }
}

/// What a generation produced: the text and counts, and which memories each chunk used.
public struct CompletionOutcome: Sendable {
    public var text: String
    public var promptTokens: Int
    public var completionTokens: Int
    public var finishReason: FinishReason
    public var seed: UInt64
    public var prefillSeconds: Double
    public var decodeSeconds: Double
    public var memoryMode: MemoryMode
    public var memoryChunks: [ChunkRecord]
    public var retrievalSeconds: Double

    public init(text: String, promptTokens: Int, completionTokens: Int, finishReason: FinishReason, seed: UInt64 = 0,
                prefillSeconds: Double = 0, decodeSeconds: Double = 0, memoryMode: MemoryMode = .off,
                memoryChunks: [ChunkRecord] = [], retrievalSeconds: Double = 0) {
        self.text = text
        self.promptTokens = promptTokens
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
        self.init(text: result.text, promptTokens: result.promptTokenCount, completionTokens: result.tokens.count,
                  finishReason: result.finishReason, seed: result.seed, prefillSeconds: result.prefillSeconds,
                  decodeSeconds: result.decodeSeconds, memoryMode: memoryMode, memoryChunks: chunks,
                  retrievalSeconds: retrievalSeconds)
    }
}

/// The one call that turns a job into text: runs on the generation worker thread, streams text
/// through `onText` (returning false cancels). Swap it to change how generation works (explicit
/// memory, a fake in tests).
public typealias GenerateFunction = @Sendable (CompletionJob, _ onText: (String) -> Bool) throws -> CompletionOutcome
