import Foundation
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
        let needsFeatures = budget != nil && selection.usesFeatures
        let read = try read(bodyTokens: body, projections: budget != nil && selection == .attention, features: needsFeatures)
        guard let budget else { return read.dense }
        let kept = budget.tokens(of: read.dense.tokenCount - read.dense.prefixTokenCount)
        let rowScores = self.rowScores(selection, of: read)
        return Self.select(kept, of: read.dense, rowScores: rowScores)
    }

    /// Per (layer, KV head) row of a reading, its body tokens' scores under `selection` (the
    /// reading must hold what the rule needs: projections for attention, features for h2o and
    /// evolved).
    public func rowScores(_ selection: MemoryProfile.TokenSelection, of read: Reading) -> [[Float]] {
        let c = model.config, n = read.dense.tokenCount, p = read.dense.prefixTokenCount
        switch selection {
        case .attention:
            return read.dense.layers.flatMap { layer in
                TokenRanking.attentionReceived(
                    queries: read.projectedQueries[layer]!, keys: read.projectedKeys[layer]!, tokens: n, prefix: p,
                    headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDim: c.headDim)
            }
        case .keyNorm:
            return Self.keyNormScores(of: read.dense)
        case .h2o, .evolved:
            let features = read.features!
            return (0 ..< features.rows).map { features.scores(row: $0, weights: selection.featureWeights!) }
        }
    }

    /// Per row, the body tokens' scores under the key-norm rule: the smaller the norm, the higher.
    public static func keyNormScores(of dense: EncodedMemory) -> [[Float]] {
        let n = dense.tokenCount, p = dense.prefixTokenCount, d = dense.headDim
        return (0 ..< dense.rowCount).map { row in
            (p ..< n).map { t in
                var sum: Float = 0
                for x in 0 ..< d { let v = dense.keys[(row * n + t) * d + x]; sum += v * v }
                return -sum
            }
        }
    }

    /// A reference read once: its dense memory (every token of the profile's layers), and what
    /// the scorers need.
    public struct Reading {
        public let dense: EncodedMemory
        /// Standardised token features (when asked for).
        public let features: TokenFeatures?
        /// Pre-RoPE queries and keys per memory layer (when asked for).
        let projectedQueries: [Int: [Float]]
        let projectedKeys: [Int: [Float]]
    }

    /// Runs the model over the prefix and `body` once; with `features`, also computes the token
    /// features of every (memory layer, KV head) row (one more pass over the attention, and the
    /// logits of every token for its surprise).
    public func read(bodyTokens body: [Int], projections: Bool = false, features: Bool = false) throws -> Reading {
        guard !body.isEmpty else { throw MemoryEncoderError.emptyReference }
        let tokens = prefixTokens + body
        let c = model.config
        guard tokens.count <= c.contextLength else {
            throw MemoryEncoderError.referenceTooLong(tokens: tokens.count, contextLength: c.contextLength)
        }
        let n = tokens.count, p = prefixTokens.count
        let cache = model.makeCache(capacity: n)
        let capture = ProjectionCapture(layers: projections ? layers : [], attendedLayers: features ? layers : [],
                                        tokens: n, config: c)
        let logits: [Float]
        do {
            logits = try model.forward(tokens, cache: cache, logits: features ? .all : .none,
                                       observe: projections || features ? { capture.record($0) } : nil)
        } catch let error as ModelError {
            throw MemoryEncoderError.model(error)
        }
        let full = cache.segment(tokens: 0 ..< n, layers: layers)
        let positions = [Int32]((0 ..< layers.count * c.kvHeadCount).flatMap { _ in (0 ..< n).map(Int32.init) })
        let dense = EncodedMemory(layers: layers, kvHeadCount: c.kvHeadCount, headDim: c.headDim, tokenCount: n,
                                  prefixTokenCount: p, positions: positions, keys: full.keys, values: full.values)
        var tokenFeatures: TokenFeatures?
        if features {
            let surprise = Self.surprise(of: tokens, logits: logits, prefix: p, vocabulary: c.vocabularySize)
            let rowElements = c.kvHeadCount * n * c.headDim
            var raw: [Float] = []
            raw.reserveCapacity(layers.count * c.kvHeadCount * (n - p) * TokenFeatures.count)
            for (slot, layer) in layers.enumerated() {
                let rows = slot * rowElements ..< (slot + 1) * rowElements
                TokenFeatures.appendRawRows(
                    queries: capture.attendedQueries[layer]!, scoreScale: capture.scoreScale,
                    rowKeys: dense.keys[rows], rowValues: dense.values[rows], tokens: n, prefix: p,
                    headCount: c.headCount, kvHeadCount: c.kvHeadCount, headDim: c.headDim, surprise: surprise, into: &raw)
            }
            TokenFeatures.standardise(&raw, rows: layers.count * c.kvHeadCount, bodyTokens: n - p)
            tokenFeatures = TokenFeatures(rows: layers.count * c.kvHeadCount, bodyTokens: n - p, values: raw)
        }
        return Reading(dense: dense, features: tokenFeatures, projectedQueries: capture.queries, projectedKeys: capture.keys)
    }

    /// -log p(token) for each body token, from the logits of the token before it (0 for a first
    /// token with nothing before it).
    static func surprise(of tokens: [Int], logits: [Float], prefix p: Int, vocabulary v: Int) -> [Float] {
        (p ..< tokens.count).map { t in
            guard t > 0 else { return 0 }
            let row = logits[(t - 1) * v ..< t * v]
            let best = row.max()!
            var sum: Float = 0
            for x in row { sum += expf(x - best) }
            return -(row[row.startIndex + tokens[t]] - best - logf(sum))
        }
    }

    /// The memory that keeps, in every row, the prefix and the `kept` body tokens of highest
    /// score (ties to the earlier token), in position order. `rowScores` has one array of body
    /// scores per (layer, KV head) row of `dense`.
    public static func select(_ kept: Int, of dense: EncodedMemory, rowScores: [[Float]]) -> EncodedMemory {
        let n = dense.tokenCount, p = dense.prefixTokenCount, d = dense.headDim
        precondition(rowScores.count == dense.rowCount && rowScores.allSatisfy { $0.count == n - p })
        let keep = min(kept, n - p)
        var positions: [Int32] = [], keys: [Float] = [], values: [Float] = []
        positions.reserveCapacity(dense.rowCount * (p + keep))
        keys.reserveCapacity(dense.rowCount * (p + keep) * d)
        values.reserveCapacity(dense.rowCount * (p + keep) * d)
        for (row, scores) in rowScores.enumerated() {
            let base = row * n * d
            for t in Array(0 ..< p) + TokenRanking.top(keep, of: scores).map({ $0 + p }) {
                positions.append(dense.positions[row * n + t])
                keys.append(contentsOf: dense.keys[base + t * d ..< base + (t + 1) * d])
                values.append(contentsOf: dense.values[base + t * d ..< base + (t + 1) * d])
            }
        }
        return EncodedMemory(layers: dense.layers, kvHeadCount: dense.kvHeadCount, headDim: d, tokenCount: p + keep,
                             prefixTokenCount: p, positions: positions, keys: keys, values: values)
    }
}

/// Collects the queries and keys of chosen layers across the forward pass's steps: pre-RoPE
/// queries and keys (`layers`), and the queries as attention read them (`attendedLayers`).
private final class ProjectionCapture {
    var queries: [Int: [Float]] = [:]
    var keys: [Int: [Float]] = [:]
    var attendedQueries: [Int: [Float]] = [:]
    var scoreScale: Float = 1
    let config: DecoderConfig

    init(layers: [Int], attendedLayers: [Int], tokens: Int, config: DecoderConfig) {
        self.config = config
        for l in layers {
            queries[l] = [Float](repeating: 0, count: tokens * config.queryDim)
            keys[l] = [Float](repeating: 0, count: tokens * config.kvDim)
        }
        for l in attendedLayers { attendedQueries[l] = [Float](repeating: 0, count: tokens * config.queryDim) }
    }

    func record(_ p: LayerProjections) {
        let qd = config.queryDim, kd = config.kvDim
        switch p.stage {
        case .projected:
            guard queries[p.layer] != nil else { return }
            queries[p.layer]!.withUnsafeMutableBufferPointer { q in
                (q.baseAddress! + p.firstIndex * qd).update(from: p.queries, count: p.tokens * qd)
            }
            keys[p.layer]!.withUnsafeMutableBufferPointer { k in
                (k.baseAddress! + p.firstIndex * kd).update(from: p.keys, count: p.tokens * kd)
            }
        case .attended:
            guard attendedQueries[p.layer] != nil else { return }
            scoreScale = p.scoreScale
            attendedQueries[p.layer]!.withUnsafeMutableBufferPointer { q in
                (q.baseAddress! + p.firstIndex * qd).update(from: p.queries, count: p.tokens * qd)
            }
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
