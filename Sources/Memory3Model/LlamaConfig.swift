import GGUF

/// The architectures that share Llama's block (pre-norm attention and SwiGLU feed-forward, RMS
/// norms, RoPE) and differ in a few switches, one entry each.
public struct LlamaVariant: Sendable, Codable, Equatable {
    /// GGUF `general.architecture`, also the prefix of its metadata keys.
    public var architecture: String
    /// Adjacent pairs (Llama: the converter permuted Q/K) or half-split pairs (GPT-NeoX style).
    public var halfSplitRope: Bool
    /// Per-head RMS norm of queries and keys before RoPE (`attn_q_norm`, `attn_k_norm`).
    public var queryKeyNorm: Bool

    /// Llama 1-3, SmolLM, Mistral: adjacent RoPE pairs; Q/K/V biases and Llama 3's RoPE frequency
    /// factors (`rope_freqs.weight`) are used when the file has them.
    public static let llama = LlamaVariant(architecture: "llama", halfSplitRope: false, queryKeyNorm: false)
    /// Qwen2 / Qwen2.5: Q/K/V biases, half-split RoPE.
    public static let qwen2 = LlamaVariant(architecture: "qwen2", halfSplitRope: true, queryKeyNorm: false)
    /// Qwen3: no biases, QK-norm, half-split RoPE, head width from `attention.key_length`.
    public static let qwen3 = LlamaVariant(architecture: "qwen3", halfSplitRope: true, queryKeyNorm: true)

    public static let all: [LlamaVariant] = [.llama, .qwen2, .qwen3]
}

/// The hyperparameters of a Llama-family model, read from GGUF metadata (`{architecture}.*` keys).
public struct LlamaConfig: Sendable, Codable, Equatable {
    public var variant: LlamaVariant = .llama
    public var vocabularySize: Int
    public var embeddingLength: Int
    public var layerCount: Int
    public var headCount: Int
    public var kvHeadCount: Int
    public var headDim: Int
    public var feedForwardLength: Int
    public var contextLength: Int
    public var ropeFreqBase: Float
    public var ropeDimensions: Int
    public var rmsNormEpsilon: Float

    public var kvDim: Int { kvHeadCount * headDim }
    public var queryDim: Int { headCount * headDim }
    /// Query heads served by each KV head (grouped-query attention).
    public var groupSize: Int { headCount / kvHeadCount }

    /// The shape the engine's shared parts (caches, memory, probes) are sized by.
    public var decoder: DecoderConfig {
        DecoderConfig(architecture: variant.architecture, vocabularySize: vocabularySize, embeddingLength: embeddingLength,
                      layerCount: layerCount, headCount: headCount, kvHeadCount: kvHeadCount, headDim: headDim,
                      contextLength: contextLength)
    }

    public init(vocabularySize: Int, embeddingLength: Int, layerCount: Int, headCount: Int, kvHeadCount: Int,
                feedForwardLength: Int, contextLength: Int, ropeFreqBase: Float, ropeDimensions: Int? = nil,
                rmsNormEpsilon: Float, headDim: Int? = nil, variant: LlamaVariant = .llama) {
        self.variant = variant
        self.vocabularySize = vocabularySize
        self.embeddingLength = embeddingLength
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim ?? embeddingLength / headCount
        self.feedForwardLength = feedForwardLength
        self.contextLength = contextLength
        self.ropeFreqBase = ropeFreqBase
        self.ropeDimensions = ropeDimensions ?? self.headDim
        self.rmsNormEpsilon = rmsNormEpsilon
    }

    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture")
        guard let variant = LlamaVariant.all.first(where: { $0.architecture == arch }) else {
            throw ModelError.unsupportedArchitecture(arch)
        }
        func key(_ name: String) -> String { arch + "." + name }
        let embedding = try gguf.int(key("embedding_length"))
        let heads = try gguf.int(key("attention.head_count"))
        let vocab: Int
        if let v = gguf.metadata[key("vocab_size")]?.intValue {
            vocab = v
        } else {
            vocab = try gguf.stringArray("tokenizer.ggml.tokens").count
        }
        self.init(
            vocabularySize: vocab,
            embeddingLength: embedding,
            layerCount: try gguf.int(key("block_count")),
            headCount: heads,
            kvHeadCount: gguf.metadata[key("attention.head_count_kv")]?.intValue ?? heads,
            feedForwardLength: try gguf.int(key("feed_forward_length")),
            contextLength: try gguf.int(key("context_length")),
            ropeFreqBase: Float(gguf.metadata[key("rope.freq_base")]?.doubleValue ?? 10000),
            ropeDimensions: gguf.metadata[key("rope.dimension_count")]?.intValue,
            rmsNormEpsilon: Float(try gguf.double(key("attention.layer_norm_rms_epsilon"))),
            headDim: gguf.metadata[key("attention.key_length")]?.intValue,
            variant: variant
        )
        try validate()
    }

    func validate() throws {
        guard embeddingLength > 0, headCount > 0, kvHeadCount > 0, layerCount > 0, vocabularySize > 0,
              headCount % kvHeadCount == 0, headDim % 2 == 0,
              ropeDimensions <= headDim, ropeDimensions % 2 == 0, feedForwardLength > 0
        else { throw ModelError.invalidConfig("inconsistent hyperparameters: \(self)") }
    }
}
