import Foundation
import Memory3Model
import Tokenizer

/// Text embeddings from the serving model itself: one forward pass over the text, the final
/// normalized hidden states (the rows the output projection would read) averaged over the text's
/// tokens (a leading BOS left out: it is the same for every text and would dominate the mean),
/// then scaled to unit length, so that a dot product is a cosine. No second model; deterministic.
public struct HiddenStateEmbedder: Sendable {
    public let model: any DecoderModel
    public let tokenizer: Tokenizer

    public init(model: any DecoderModel, tokenizer: Tokenizer) {
        self.model = model
        self.tokenizer = tokenizer
    }

    public var dimensions: Int { model.config.embeddingLength }

    /// The tokens embedded for `text` (the model's usual BOS included).
    public func tokens(_ text: String) -> [Int] {
        tokenizer.encode(text, parseSpecial: false, addBOS: nil)
    }

    /// The unit-length embedding of `tokens` (at most the model's context).
    public func embed(_ tokens: [Int]) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyInput }
        let width = dimensions
        let states = try model.forward(tokens, cache: model.makeCache(capacity: tokens.count), logits: .hidden)
        let skip = tokens.count > 1 && tokens.first == tokenizer.bosTokenId ? 1 : 0
        var mean = [Double](repeating: 0, count: width)
        for row in skip ..< tokens.count {
            for i in 0 ..< width { mean[i] += Double(states[row * width + i]) }
        }
        let norm = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard norm > 0 else { return [Float](repeating: 0, count: width) }
        return mean.map { Float($0 / norm) }
    }
}
