import Foundation

/// Which key/values of a reference become its explicit memory: which layers, and which tokens of
/// each KV head. Every profile keeps all KV heads of its layers and always keeps the reference
/// prefix (the attention sink) in front of the selected tokens.
public enum MemoryProfile: Sendable, Equatable, CustomStringConvertible {
    /// All layers, all KV heads, all tokens. The default: a model not trained with memory needs
    /// memory everywhere (measured on SmolLM2, anything sparser is worse than no memory).
    case dense
    /// The Memory3 paper's profile for models trained with memory: the first half of the layers,
    /// the top 8 tokens per head by attention received inside the reference.
    case paper
    /// Small memories that hold their answers: every layer, each KV head keeping the share of its
    /// tokens that the evolved scorer ranks best (`compactBudget`), stored with `compactCodec`.
    /// Chosen by the frontier in docs/memory-quality.md.
    case compact
    /// Chosen layers (nil: all), a token budget per head and a selection rule.
    case custom(layers: [Int]?, budget: TokenBudget, selection: TokenSelection)

    /// How many reference tokens (prefix excluded) each head keeps.
    public enum TokenBudget: Sendable, Equatable {
        case count(Int)
        /// A fraction in (0, 1] of the reference's tokens, rounded up.
        case fraction(Double)

        /// Tokens kept out of `available` (at least one when any are available).
        public func tokens(of available: Int) -> Int {
            switch self {
            case .count(let n): return min(n, available)
            case .fraction(let f): return min(available, max(1, Int((f * Double(available)).rounded(.up))))
            }
        }
    }

    /// How tokens are ranked within a head.
    public enum TokenSelection: String, Sendable, Equatable, CaseIterable {
        /// Attention each token receives from the reference's tokens, scored with queries and
        /// keys before RoPE, without causal mask, the prefix left out (the paper's rule).
        case attention
        /// Smallest key norm first: low-norm keys are the ones attention favours (Devoto et al.,
        /// "A Simple and Effective L2 Norm-Based Strategy for KV Cache Compression", 2024).
        case keyNorm
        /// Mean attention received while the model read the reference (causal, with RoPE): H2O's
        /// heavy hitters, the score divided by how many later tokens could attend.
        case h2o
        /// The evolved scorer: a weighted sum of standardised token features
        /// (`TokenFeatures`), weights found by CMA-ES (`EvolvedTokenScorer`).
        case evolved

        /// Whether ranking needs `TokenFeatures`.
        public var usesFeatures: Bool { featureWeights != nil }

        /// The feature weights of a feature-based rule.
        public var featureWeights: [Float]? {
            switch self {
            case .attention, .keyNorm: return nil
            case .h2o:
                var w = [Float](repeating: 0, count: TokenFeatures.count)
                w[TokenFeatures.Feature.meanAttention.rawValue] = 1
                return w
            case .evolved: return EvolvedTokenScorer.weights
            }
        }
    }

    /// The compact profile's token budget per head and codec.
    public static let compactBudget = TokenBudget.fraction(0.4)
    public static let compactCodec = MemoryCodec.int3

    /// The codec this profile's memories are stored with, when the profile fixes one (compact);
    /// nil: the codec is chosen separately (by default the model's own: `MemoryCodec.modelDefault`).
    public var codec: MemoryCodec? {
        switch self {
        case .compact: return Self.compactCodec
        case .dense, .paper, .custom: return nil
        }
    }

    /// The codec to store with: the profile's own, else `requested`, else `modelDefault` (the
    /// model's own, `MemoryCodec.modelDefault(for:)`). A request that contradicts the profile's own
    /// codec is refused (two kinds of memory under one name).
    public func storageCodec(requested: MemoryCodec?, modelDefault: MemoryCodec = .default) throws -> MemoryCodec {
        if let own = codec, let requested, requested != own {
            throw MemoryProfileError.invalidOption(
                "the \(name) profile stores \(own.name) memories, not \(requested.name) (a custom profile takes any codec)")
        }
        return codec ?? requested ?? modelDefault
    }

    /// The profile's stable name, stored with every memory; `MemoryProfile(parsing: name)`
    /// gives the profile back.
    public var name: String {
        switch self {
        case .dense: return "dense"
        case .paper: return "paper"
        case .compact: return "compact"
        case .custom(let layers, let budget, let selection):
            let layerText = layers.map(Self.rangeText) ?? "all"
            let tokenText: String
            switch budget {
            case .count(let n): tokenText = String(n)
            case .fraction(let f): tokenText = "\(f)"
            }
            return "custom:layers=\(layerText),tokens=\(tokenText),selection=\(selection.rawValue)"
        }
    }

    public var description: String { name }

    /// Tokens the paper keeps per head.
    public static let paperTokensPerHead = 8

    /// The plan for a model of `layerCount` layers: which layers, what budget, which rule
    /// (nil: keep every token, no ranking).
    public func plan(layerCount: Int) throws -> (layers: [Int], budget: TokenBudget?, selection: TokenSelection) {
        switch self {
        case .dense:
            return (Array(0 ..< layerCount), nil, .attention)
        case .paper:
            return (Array(0 ..< max(1, layerCount / 2)), .count(Self.paperTokensPerHead), .attention)
        case .compact:
            return (Array(0 ..< layerCount), Self.compactBudget, .evolved)
        case .custom(let layers, let budget, let selection):
            let chosen = Array(Set(layers ?? Array(0 ..< layerCount))).sorted()
            if let bad = chosen.first(where: { $0 < 0 || $0 >= layerCount }) {
                throw MemoryProfileError.layerOutOfRange(bad, layerCount: layerCount)
            }
            guard !chosen.isEmpty else { throw MemoryProfileError.invalidOption("the profile names no layer") }
            if case .count(let n) = budget, n < 1 { throw MemoryProfileError.invalidOption("tokens=\(n) (a count must be >= 1)") }
            if case .fraction(let f) = budget, !(f > 0 && f <= 1) {
                throw MemoryProfileError.invalidOption("tokens=\(f) (a fraction must be in (0, 1])")
            }
            return (chosen, budget, selection)
        }
    }

    /// Whether encoding needs the pre-RoPE queries and keys.
    public var ranksByAttention: Bool {
        switch self {
        case .dense, .compact: return false
        case .paper: return true
        case .custom(_, _, let selection): return selection == .attention
        }
    }

    /// Parses "compact", "dense", "paper", or "custom:layers=0-14,tokens=16,selection=attention" (every
    /// custom key optional: layers default to all, tokens to 8, selection to attention; tokens
    /// may be a count, a fraction like 0.5, or a percentage like 50%).
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        switch trimmed {
        case "dense": self = .dense; return
        case "paper": self = .paper; return
        case "compact": self = .compact; return
        default: break
        }
        guard trimmed == "custom" || trimmed.hasPrefix("custom:") else {
            throw MemoryProfileError.unknownProfile(text)
        }
        var layers: [Int]? = nil
        var budget = TokenBudget.count(Self.paperTokensPerHead)
        var selection = TokenSelection.attention
        let options = trimmed.dropFirst("custom".count).drop(while: { $0 == ":" })
        // Options are comma-separated; a piece without "=" continues the layer list before it
        // ("layers=0-2,5,7-8").
        var pairs: [(key: String, value: String)] = []
        for piece in options.split(separator: ",", omittingEmptySubsequences: true) {
            let parts = piece.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2 {
                guard !pairs.contains(where: { $0.key == parts[0] }) else {
                    throw MemoryProfileError.invalidOption("\(parts[0]) given twice")
                }
                pairs.append((parts[0], parts[1]))
            } else if let last = pairs.last, last.key == "layers" {
                pairs[pairs.count - 1].value += "," + parts[0]
            } else {
                throw MemoryProfileError.invalidOption(String(piece))
            }
        }
        for (key, value) in pairs {
            switch key {
            case "layers":
                layers = value == "all" ? nil : try Self.parseRanges(value)
            case "tokens":
                budget = try Self.parseBudget(value)
            case "selection":
                switch value.lowercased() {
                case "attention": selection = .attention
                case "keynorm", "key-norm", "norm": selection = .keyNorm
                case "h2o": selection = .h2o
                case "evolved": selection = .evolved
                default: throw MemoryProfileError.invalidOption("selection=\(value) (use attention, keyNorm, h2o or evolved)")
                }
            default:
                throw MemoryProfileError.invalidOption("unknown key '\(key)' (use layers, tokens, selection)")
            }
        }
        self = .custom(layers: layers, budget: budget, selection: selection)
    }

    public static func parseBudget(_ value: String) throws -> TokenBudget {
        if value.hasSuffix("%") {
            guard let p = Double(value.dropLast()), p > 0, p <= 100 else {
                throw MemoryProfileError.invalidOption("tokens=\(value) (a percentage must be in (0, 100])")
            }
            return .fraction(p / 100)
        }
        if value.contains(".") {
            guard let f = Double(value), f > 0, f <= 1 else {
                throw MemoryProfileError.invalidOption("tokens=\(value) (a fraction must be in (0, 1])")
            }
            return .fraction(f)
        }
        guard let n = Int(value), n >= 1 else {
            throw MemoryProfileError.invalidOption("tokens=\(value) (a count must be >= 1)")
        }
        return .count(n)
    }

    /// "0-14" or "0,2,4-6" -> sorted unique layer indices.
    static func parseRanges(_ value: String) throws -> [Int] {
        var result: Set<Int> = []
        for piece in value.split(separator: ",", omittingEmptySubsequences: true) {
            let bounds = piece.split(separator: "-", maxSplits: 1)
            guard let low = Int(bounds[0]), low >= 0,
                  let high = bounds.count == 2 ? Int(bounds[1]) : low, high >= low, high < 65_536
            else { throw MemoryProfileError.invalidOption("layers=\(value) (use e.g. 0-14 or 0,2,4-6)") }
            result.formUnion(low ... high)
        }
        guard !result.isEmpty else { throw MemoryProfileError.invalidOption("layers=\(value) names no layer") }
        return result.sorted()
    }

    /// Sorted layer indices as compact ranges: [0,1,2,5,7,8] -> "0-2,5,7-8".
    static func rangeText(_ layers: [Int]) -> String {
        var parts: [String] = []
        var i = 0
        while i < layers.count {
            var j = i
            while j + 1 < layers.count && layers[j + 1] == layers[j] + 1 { j += 1 }
            parts.append(i == j ? "\(layers[i])" : "\(layers[i])-\(layers[j])")
            i = j + 1
        }
        return parts.joined(separator: ",")
    }
}

/// A profile that cannot be parsed or does not fit the model.
public enum MemoryProfileError: Error, Equatable, CustomStringConvertible {
    case unknownProfile(String)
    case invalidOption(String)
    case layerOutOfRange(Int, layerCount: Int)

    public var description: String {
        switch self {
        case .unknownProfile(let p):
            return "unknown memory profile '\(p)' (use compact, dense, paper, or custom:layers=0-14,tokens=16,selection=attention)"
        case .invalidOption(let why): return "invalid custom memory profile option: \(why)"
        case .layerOutOfRange(let l, let n): return "memory profile names layer \(l), the model has layers 0..<\(n)"
        }
    }
}
