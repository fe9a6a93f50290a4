import Foundation
import Memory3Model

/// Limits and stop conditions of one generation.
public struct GenerationOptions: Sendable {
    public var maxTokens: Int = 256
    public var sampling = SamplingParameters()
    /// Generation ends before the first occurrence of any of these strings.
    public var stop: [String] = []
    /// End at the model's end-of-generation tokens (eos, `<|im_end|>`).
    public var stopAtEndOfGeneration = true
    /// Record each generated token's log-probability and this many most likely alternatives
    /// (0-20), from the model's distribution (log-softmax of the logits, before penalties and
    /// sampling cuts). Nil: none.
    public var logprobs: Int?
    /// Also record the log-probability of every prompt token after the first (completions'
    /// `echo` with `logprobs`), with `logprobs` alternatives each. The prompt is then read in
    /// full, never served from the prompt cache.
    public var promptLogprobs = false
    /// Restricts what may be generated (`response_format: json_object`); one per request.
    public var constraint: JSONConstraint?

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
    /// One per generated token when `GenerationOptions.logprobs` asked for them.
    public var logprobs: [TokenLogprob] = []
    /// One per prompt token after the first, when `GenerationOptions.promptLogprobs` asked (in
    /// text mode the prompt read includes the retrieved text before the request's own).
    public var promptLogprobs: [TokenLogprob] = []
}

/// A generated token's log-probability under the model, with the most likely alternatives.
public struct TokenLogprob: Sendable, Equatable {
    public struct Alternative: Sendable, Equatable {
        public var token: Int
        public var logprob: Float
    }

    public var token: Int
    public var logprob: Float
    /// Most likely first.
    public var top: [Alternative]

    /// Log-softmax of `logits` at `token`, and the `count` highest entries. `logits` is one row
    /// of the vocabulary (an array, or a row of a batch's logits read in place).
    public static func of<Row: RandomAccessCollection<Float>>(_ token: Int, logits: Row, top count: Int) -> TokenLogprob
        where Row.Index == Int {
        var maxLogit = -Float.infinity
        for l in logits where l > maxLogit { maxLogit = l }
        var sum: Double = 0
        for l in logits { sum += Double(expf(l - maxLogit)) }
        let logZ = maxLogit + Float(log(sum))
        var best: [Alternative] = []
        if count > 0 {
            best.reserveCapacity(count + 1)
            for (i, l) in logits.enumerated() where best.count < count || l > best[best.count - 1].logprob {
                let at = best.firstIndex { l > $0.logprob } ?? best.count
                best.insert(Alternative(token: i, logprob: l), at: at)
                if best.count > count { best.removeLast() }
            }
        }
        return TokenLogprob(token: token, logprob: logits[logits.startIndex + token] - logZ,
                            top: best.map { Alternative(token: $0.token, logprob: $0.logprob - logZ) })
    }
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
    /// The retriever (nil: the memory source's default).
    public var memoryRetriever: RetrieverKind?

    public init(prompt: [Int], retrievable: [Bool]? = nil, options: GenerationOptions, memoryMode: MemoryMode = .off, memoryK: Int = 5,
                memoryRetriever: RetrieverKind? = nil) {
        self.prompt = prompt
        self.retrievable = retrievable
        self.options = options
        self.memoryMode = memoryMode
        self.memoryK = memoryK
        self.memoryRetriever = memoryRetriever
    }
}
