/// How the next token is chosen from the logits. Temperature 0 means greedy (argmax).
/// Defaults follow llama.cpp's.
public struct SamplingParameters: Sendable, Codable, Equatable {
    public var temperature: Float = 0.8
    /// Keep the k most likely tokens (0 = all).
    public var topK: Int = 40
    /// Keep the smallest set of tokens whose probability adds up to p (1 = all).
    public var topP: Float = 0.95
    /// Drop tokens less likely than minP times the most likely one (0 = none).
    public var minP: Float = 0.05
    /// Divides positive logits (multiplies negative ones) of tokens seen in the window (1 = off).
    public var repetitionPenalty: Float = 1.0
    /// Subtracted from a token's logit once per occurrence in the window.
    public var frequencyPenalty: Float = 0
    /// Subtracted from a token's logit when it occurs in the window at all.
    public var presencePenalty: Float = 0
    /// How many of the latest tokens the penalties look at.
    public var penaltyWindow: Int = 64
    /// Same seed, same prompt, same parameters: same output. nil picks a random seed.
    public var seed: UInt64?

    public init() {}

    public static let greedy: SamplingParameters = {
        var p = SamplingParameters()
        p.temperature = 0
        return p
    }()

    public var isGreedy: Bool { temperature <= 0 }

    /// The first invalid field, described for the user, or nil.
    public func validationError() -> String? {
        if !temperature.isFinite || temperature < 0 { return "temperature must be a finite number >= 0" }
        if topK < 0 { return "top_k must be >= 0" }
        if !(topP > 0 && topP <= 1) { return "top_p must be in (0, 1]" }
        if !(minP >= 0 && minP <= 1) { return "min_p must be in [0, 1]" }
        if !repetitionPenalty.isFinite || repetitionPenalty <= 0 { return "repetition_penalty must be > 0" }
        if !frequencyPenalty.isFinite || abs(frequencyPenalty) > 2 { return "frequency_penalty must be in [-2, 2]" }
        if !presencePenalty.isFinite || abs(presencePenalty) > 2 { return "presence_penalty must be in [-2, 2]" }
        if penaltyWindow < 0 { return "penalty window must be >= 0" }
        return nil
    }
}
