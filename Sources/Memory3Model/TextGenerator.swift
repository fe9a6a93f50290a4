import Foundation
import Tokenizer

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
    public var finishReason: FinishReason
    public var seed: UInt64
    public var prefillSeconds: Double
    public var decodeSeconds: Double
}

/// The generation loop: prefill the prompt, then sample, stream text and stop.
public struct TextGenerator: Sendable {
    public let model: LlamaModel
    public let tokenizer: Tokenizer

    public init(model: LlamaModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    /// Generates after `prompt`. `onText` receives text as it becomes final (never a broken UTF-8
    /// sequence, never part of a stop string); returning false cancels.
    public func generate(prompt: [Int], options: GenerationOptions,
                         onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        let capacity = min(prompt.count + max(options.maxTokens, 0), model.config.contextLength)
        guard prompt.count < capacity || options.maxTokens == 0 else {
            throw ModelError.contextFull(needed: prompt.count + 1, capacity: model.config.contextLength)
        }
        let context = PlainContext(model: model, capacity: max(capacity, prompt.count))
        return try generate(prompt: prompt, in: context, options: options, onText: onText)
    }

    /// Generates after `prompt` in a given context (for example one with explicit memory).
    public func generate(prompt: [Int], in context: ContextFeeder, options: GenerationOptions,
                         onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        var sampler = Sampler(options.sampling)
        var detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        var stops = StopSequenceMatcher(stops: options.stop)
        var result = GenerationResult(text: "", tokens: [], promptTokenCount: prompt.count, finishReason: .length,
                                      seed: sampler.seed, prefillSeconds: 0, decodeSeconds: 0)
        var history = prompt

        let prefillStart = Date()
        var logits = try context.feedPrompt(prompt)
        result.prefillSeconds = Date().timeIntervalSince(prefillStart)
        let decodeStart = Date()

        func emit(_ text: String) -> Bool {
            guard !text.isEmpty else { return true }
            result.text += text
            return onText(text)
        }

        while result.tokens.count < options.maxTokens {
            let token = sampler.sample(&logits, history: history)
            if options.stopAtEndOfGeneration && tokenizer.endOfGenerationIds.contains(token) {
                result.finishReason = .endOfSequence
                break
            }
            result.tokens.append(token)
            history.append(token)
            let (text, stopped) = stops.feed(detokenizer.append(token))
            if !emit(text) {
                result.finishReason = .cancelled
                result.decodeSeconds = Date().timeIntervalSince(decodeStart)
                return result
            }
            if stopped {
                result.finishReason = .stopString
                result.decodeSeconds = Date().timeIntervalSince(decodeStart)
                return result
            }
            guard result.tokens.count < options.maxTokens, context.remainingCapacity > 0 else { break }
            logits = try context.feedGenerated(token)
        }
        let (tail, stopped) = stops.feed(detokenizer.finish())
        if stopped { result.finishReason = .stopString }
        _ = emit(tail + (stopped ? "" : stops.flush()))
        result.decodeSeconds = Date().timeIntervalSince(decodeStart)
        return result
    }
}
