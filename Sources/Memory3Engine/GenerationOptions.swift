import Memory3Model

/// Limits and stop conditions of one generation.
public struct GenerationOptions: Sendable {
    public var maxTokens: Int = 256
    public var sampling = SamplingParameters()
    /// Generation ends before the first occurrence of any of these strings.
    public var stop: [String] = []
    /// End at the model's end-of-generation tokens (eos, `<|im_end|>`).
    public var stopAtEndOfGeneration = true

    public init(maxTokens: Int = 256, sampling: SamplingParameters = SamplingParameters(), stop: [String] = []) {
        self.maxTokens = maxTokens
        self.sampling = sampling
        self.stop = stop
    }
}

public enum FinishReason: String, Sendable, Codable {
    /// An end-of-generation token.
    case endOfSequence = "eos"
    /// A stop string.
    case stopString = "stop"
    /// maxTokens, or the context is full.
    case length
    /// The caller asked to stop.
    case cancelled
}

public struct GenerationResult: Sendable {
    public var text: String
    /// Generated token ids (an end-of-generation token is not included).
    public var tokens: [Int]
    public var promptTokenCount: Int
    /// Prompt tokens whose key/values came from a cached earlier sequence instead of being read.
    public var cachedPromptTokens: Int
    public var finishReason: FinishReason
    public var seed: UInt64
    public var prefillSeconds: Double
    public var decodeSeconds: Double
}

/// One generation asked of the engine, prompt already tokenized.
public struct GenerationRequest: Sendable {
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
