import GGUF

/// The shape every decoder architecture shares: what KV caches, memory segments and attention
/// probes are sized by. An architecture's own hyperparameters (norms, RoPE, FFN) stay in its file.
public struct DecoderConfig: Sendable, Codable, Equatable {
    /// GGUF `general.architecture`.
    public var architecture: String
    public var vocabularySize: Int
    public var embeddingLength: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var contextLength: Int
    /// The span of the model's sliding-window layers, if it has any (Gemma 3: 512).
    public var slidingWindow: Int?

    public var kvDim: Int { kvHeadCount * headDim }
    public var queryDim: Int { headCount * headDim }
    /// Query heads served by each KV head (grouped-query attention).
    public var groupSize: Int { headCount / kvHeadCount }
    /// Bytes one context token takes in a KV cache (keys and values of every layer, fp16).
    public var kvBytesPerToken: Int { 2 * layerCount * kvDim * MemoryLayout<UInt16>.size }

    public init(architecture: String, vocabularySize: Int, embeddingLength: Int, layerCount: Int, headCount: Int,
                kvHeadCount: Int, headDim: Int, contextLength: Int, slidingWindow: Int? = nil) {
        self.architecture = architecture
        self.vocabularySize = vocabularySize
        self.embeddingLength = embeddingLength
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.contextLength = contextLength
        self.slidingWindow = slidingWindow
    }
}

/// Which positions of a sequence's tokens produce logits.
public enum LogitsRequest: Sendable {
    case last
    case all
    case none
    /// No logits: the final-normed hidden states of every token ([tokens][embeddingLength]), for
    /// embeddings.
    case hidden
}

/// Queries and keys of one layer, for callers that score tokens (the Memory3 paper ranks a
/// reference's tokens by the attention they receive, without positions; H2O-style scorers use the
/// attention the model really pays). Each layer is seen twice: `.projected`, then `.attended`.
/// Valid only during the callback.
public struct LayerProjections {
    public enum Stage: Sendable {
        /// Straight out of the projections: before any query/key norm and RoPE.
        case projected
        /// As attention reads them: after norms, RoPE and any query scaling; the attention logit
        /// of query i and key j is `scoreScale * dot(q_i, k_j)`.
        case attended
    }

    public let layer: Int
    public var stage: Stage = .projected
    /// Multiplies a query-key dot product into an attention logit (stage `.attended`).
    public var scoreScale: Float = 1
    /// Tokens in this step, and their index in the cache.
    public let tokens: Int
    public let firstIndex: Int
    /// [tokens][headCount * headDim]
    public let queries: UnsafePointer<Float>
    /// [tokens][kvHeadCount * headDim]
    public let keys: UnsafePointer<Float>
}

/// One sequence's part of a batched forward step: its new tokens, the cache they extend, the
/// memory segments its attention reads before the context, and what it wants back.
public struct ForwardRequest {
    public var cache: KVCache
    public var tokens: [Int]
    public var memory: [MemorySegment]
    public var logits: LogitsRequest
    /// Records the attention mass its heads pay to each memory segment. The probe must have been
    /// begun for the whole call (`AttentionProbe.begin`); these tokens are its rows from
    /// `probeTokenOffset` on.
    public var probe: AttentionProbe?
    public var probeTokenOffset: Int
    /// Sees each layer's queries and keys (these tokens only) before RoPE.
    public var observe: ((LayerProjections) -> Void)?

    public init(cache: KVCache, tokens: [Int], memory: [MemorySegment] = [], logits: LogitsRequest = .last,
                probe: AttentionProbe? = nil, probeTokenOffset: Int = 0, observe: ((LayerProjections) -> Void)? = nil) {
        self.cache = cache
        self.tokens = tokens
        self.memory = memory
        self.logits = logits
        self.probe = probe
        self.probeTokenOffset = probeTokenOffset
        self.observe = observe
    }
}

/// A decoder-only language model on GGUF weights, as the engine, the memory encoder and the
/// server reach it. Immutable and shareable: all per-sequence state lives in the caller's
/// `KVCache`. One file per architecture implements it; `ModelRegistry` picks one by
/// `general.architecture`.
public protocol DecoderModel: AnyObject, Sendable {
    var config: DecoderConfig { get }
    var file: GGUFFile { get }
    /// Threads for matrix work.
    var threads: Int { get }

    /// One step for several sequences at once: every request's tokens go through the layers
    /// together (the matrix multiplies see one batch of rows), attention runs per sequence over
    /// its own memory segments and cache, and each cache grows by its tokens. Returns, per request,
    /// its logits ([vocab] for `.last`, [tokens][vocab] for `.all`, empty for `.none`).
    ///
    /// With `throughLayer`, only layers 0...throughLayer run and no cache moves (the positions
    /// written are overwritten by the next forward): the cheap first pass that reranks memories
    /// with a retrieval head; nothing is returned.
    ///
    /// A sequence's results do not depend on what else is in the batch (tests prove it).
    func forward(batch: [ForwardRequest], throughLayer: Int?) throws -> [[Float]]
}

extension DecoderModel {
    /// Tokens per internal forward step of the one-sequence calls: bounds scratch memory for
    /// long prompts.
    public var maxStepTokens: Int { 256 }

    /// A KV cache for this model.
    public func makeCache(capacity: Int, positionOffset: Int = 0) -> KVCache {
        KVCache(config: config, capacity: capacity, positionOffset: positionOffset)
    }

    public func forward(batch: [ForwardRequest]) throws -> [[Float]] {
        try forward(batch: batch, throughLayer: nil)
    }

    /// Runs `tokens` after the cache's context (one sequence, in steps of `maxStepTokens`),
    /// appends their key/values to the cache, and returns logits ([vocab] for `.last`,
    /// [tokens][vocab] for `.all`). `memory` segments are attended by every token in every layer
    /// they cover, before the context. `observe`, when given, sees each layer's queries and keys
    /// before RoPE; `probe`, when given, records the attention mass its heads pay to each memory
    /// segment over all of `tokens`.
    public func forward(_ tokens: [Int], cache: KVCache, memory: [MemorySegment] = [], logits request: LogitsRequest = .last,
                        observe: ((LayerProjections) -> Void)? = nil, probe: AttentionProbe? = nil) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyInput }
        probe?.begin(tokens: tokens.count, segments: memory.count, config: config)
        var result: [Float] = []
        if request == .all { result.reserveCapacity(tokens.count * config.vocabularySize) }
        let everyStep = request == .all || request == .hidden
        var start = 0
        while start < tokens.count {
            let end = min(start + maxStepTokens, tokens.count)
            let wanted: LogitsRequest = everyStep ? request : (end == tokens.count ? request : .none)
            let step = ForwardRequest(cache: cache, tokens: Array(tokens[start ..< end]), memory: memory, logits: wanted,
                                      probe: probe, probeTokenOffset: start, observe: observe)
            let out = try forward(batch: [step], throughLayer: nil)[0]
            if everyStep || end == tokens.count { result.append(contentsOf: out) }
            start = end
        }
        return result
    }

    /// Runs `tokens` through layers 0...`lastLayer` only, recording `probe`, and leaves the cache
    /// as it was. This is the cheap first pass of reranking memories with a retrieval head.
    public func probeAttention(_ tokens: [Int], cache: KVCache, memory: [MemorySegment],
                               probe: AttentionProbe, throughLayer lastLayer: Int) throws {
        guard tokens.count <= maxStepTokens else {
            throw ModelError.invalidConfig("a probe pass takes at most \(maxStepTokens) tokens")
        }
        probe.begin(tokens: tokens.count, segments: memory.count, config: config)
        _ = try forward(batch: [ForwardRequest(cache: cache, tokens: tokens, memory: memory, logits: .none, probe: probe)],
                        throughLayer: min(lastLayer, config.layerCount - 1))
    }

    /// Checks a batch before any work: tokens in the vocabulary, room in every cache, memory
    /// segments that fit, no cache twice.
    public func validate(batch: [ForwardRequest]) throws {
        var caches = Set<ObjectIdentifier>()
        for request in batch {
            guard !request.tokens.isEmpty else { throw ModelError.emptyInput }
            guard caches.insert(ObjectIdentifier(request.cache)).inserted else {
                throw ModelError.invalidConfig("one KV cache appears twice in a batch")
            }
            let cache = request.cache
            guard cache.count + request.tokens.count <= cache.capacity else {
                throw ModelError.contextFull(needed: cache.count + request.tokens.count, capacity: cache.capacity)
            }
            guard cache.layerCount == config.layerCount, cache.kvHeadCount == config.kvHeadCount, cache.headDim == config.headDim else {
                throw ModelError.invalidConfig("a KV cache made for another model shape")
            }
            for t in request.tokens where t < 0 || t >= config.vocabularySize {
                throw ModelError.invalidToken(t, vocabularySize: config.vocabularySize)
            }
            for m in request.memory { try m.validate(for: config) }
        }
    }
}
