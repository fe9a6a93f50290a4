import Memory3Model
import Tokenizer

/// Writes explicit memory: runs the model over one reference alone (the reference prefix, then
/// its text) in one batched forward pass from position 0, and keeps the key/values its profile
/// selects. Keys are taken after RoPE from the cache, at their in-reference positions. Cost: one
/// prefill of the reference.
public struct MemoryEncoder: Sendable {
    public let model: any DecoderModel
    public let tokenizer: Tokenizer
    public let profile: MemoryProfile
    /// The text every reference is read after (the paper's `<s>Reference:`); special tokens in
    /// it are parsed, so a prefix may start with a control token.
    public let prefix: String
    public let prefixTokens: [Int]
    let layers: [Int]
    let budget: MemoryProfile.TokenBudget?
    let selection: MemoryProfile.TokenSelection

    public static let defaultPrefix = "Reference:"

    public init(model: any DecoderModel, tokenizer: Tokenizer, profile: MemoryProfile = .dense,
                prefix: String = MemoryEncoder.defaultPrefix) throws {
        self.model = model
        self.tokenizer = tokenizer
        self.profile = profile
        self.prefix = prefix
        self.prefixTokens = prefix.isEmpty ? [] : tokenizer.encode(prefix, parseSpecial: true)
        (layers, budget, selection) = try profile.plan(layerCount: model.config.layerCount)
    }

    /// The reference's tokens after the prefix: a space joins prefix and text unless either
    /// side already has whitespace there.
    public func bodyTokens(_ text: String) -> [Int] {
        let joiner = !prefix.isEmpty && !(prefix.last?.isWhitespace ?? true) && !(text.first?.isWhitespace ?? true)
        return tokenizer.encode(joiner ? " " + text : text, parseSpecial: false, addBOS: false)
    }

    /// The memory of one reference.
    public func encode(_ text: String) throws -> EncodedMemory {
        try encode(bodyTokens: bodyTokens(text))
    }

    /// The memory of a reference given as tokens (after the prefix).
    public func encode(bodyTokens body: [Int]) throws -> EncodedMemory {
        guard !body.isEmpty else { throw MemoryEncoderError.emptyReference }
        let tokens = prefixTokens + body
        let c = model.config
        guard tokens.count <= c.contextLength else {
            throw MemoryEncoderError.referenceTooLong(tokens: tokens.count, contextLength: c.contextLength)
        }
        let n = tokens.count, p = prefixTokens.count
        let cache = model.makeCache(capacity: n)

        // Pre-RoPE projections of the memory layers, for attention ranking.
        let wantsProjections = budget != nil && selection == .attention
        let capture = ProjectionCapture(layers: wantsProjections ? layers : [], tokens: n, config: c)
        do {
            _ = try model.forward(tokens, cache: cache, logits: .none,
                                  observe: wantsProjections ? { capture.record($0) } : nil)
        } catch let error as ModelError {
            throw MemoryEncoderError.model(error)
        }
        let full = cache.segment(tokens: 0 ..< n, layers: layers)
        guard let budget else {
            let positions = [Int32]((0 ..< layers.count * c.kvHeadCount).flatMap { _ in (0 ..< n).map(Int32.init) })
            return EncodedMemory(layers: layers, kvHeadCount: c.kvHeadCount, headDim: c.headDim, tokenCount: n,
                                 prefixTokenCount: p, positions: positions, keys: full.keys, values: full.values)
        }

        // Per layer and head: the prefix, then the selected body tokens in position order.
        let kept = budget.tokens(of: n - p)
        let d = c.headDim
        var positions: [Int32] = [], keys: [Float] = [], values: [Float] = []
        let rows = layers.count * c.kvHeadCount
        positions.reserveCapacity(rows * (p + kept))
        keys.reserveCapacity(rows * (p + kept) * d)
        values.reserveCapacity(rows * (p + kept) * d)
        for (slot, layer) in layers.enumerated() {
            let received: [[Float]]? = selection == .attention
                ? TokenRanking.attentionReceived(
                    queries: capture.queries[layer]!, keys: capture.keys[layer]!, tokens: n, prefix: p,
                    headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDim: d)
                : nil
            for head in 0 ..< c.kvHeadCount {
                let base = (slot * c.kvHeadCount + head) * n * d
                let scores: [Float]
                if let received {
                    scores = received[head]
                } else {
                    // Smaller key norm ranks higher.
                    scores = (p ..< n).map { t in
                        var sum: Float = 0
                        for x in 0 ..< d { let v = full.keys[base + t * d + x]; sum += v * v }
                        return -sum
                    }
                }
                let chosen = Array(0 ..< p) + TokenRanking.top(kept, of: scores).map { $0 + p }
                for t in chosen {
                    positions.append(Int32(t))
                    keys.append(contentsOf: full.keys[base + t * d ..< base + (t + 1) * d])
                    values.append(contentsOf: full.values[base + t * d ..< base + (t + 1) * d])
                }
            }
        }
        return EncodedMemory(layers: layers, kvHeadCount: c.kvHeadCount, headDim: d, tokenCount: p + kept,
                             prefixTokenCount: p, positions: positions, keys: keys, values: values)
    }
}

/// Collects the pre-RoPE queries and keys of chosen layers across the forward pass's steps.
private final class ProjectionCapture {
    var queries: [Int: [Float]] = [:]
    var keys: [Int: [Float]] = [:]
    let config: DecoderConfig

    init(layers: [Int], tokens: Int, config: DecoderConfig) {
        self.config = config
        for l in layers {
            queries[l] = [Float](repeating: 0, count: tokens * config.queryDim)
            keys[l] = [Float](repeating: 0, count: tokens * config.kvDim)
        }
    }

    func record(_ p: LayerProjections) {
        guard queries[p.layer] != nil else { return }
        let qd = config.queryDim, kd = config.kvDim
        queries[p.layer]!.withUnsafeMutableBufferPointer { q in
            (q.baseAddress! + p.firstIndex * qd).update(from: p.queries, count: p.tokens * qd)
        }
        keys[p.layer]!.withUnsafeMutableBufferPointer { k in
            (k.baseAddress! + p.firstIndex * kd).update(from: p.keys, count: p.tokens * kd)
        }
    }
}

/// Why a reference cannot be encoded.
public enum MemoryEncoderError: Error, Equatable, CustomStringConvertible {
    case emptyReference
    case referenceTooLong(tokens: Int, contextLength: Int)
    case model(ModelError)

    public var description: String {
        switch self {
        case .emptyReference: return "the reference has no tokens"
        case .referenceTooLong(let n, let ctx): return "the reference has \(n) tokens, the model's context holds \(ctx)"
        case .model(let e): return "the model failed: \(e.description)"
        }
    }
}
