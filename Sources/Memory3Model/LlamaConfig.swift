import GGUF

/// The hyperparameters of a Llama-architecture model, read from GGUF metadata (`llama.*` keys).
public struct LlamaConfig: Sendable, Codable, Equatable {
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
        DecoderConfig(architecture: "llama", vocabularySize: vocabularySize, embeddingLength: embeddingLength,
                      layerCount: layerCount, headCount: headCount, kvHeadCount: kvHeadCount, headDim: headDim,
                      contextLength: contextLength)
    }

    public init(vocabularySize: Int, embeddingLength: Int, layerCount: Int, headCount: Int, kvHeadCount: Int,
                feedForwardLength: Int, contextLength: Int, ropeFreqBase: Float, ropeDimensions: Int? = nil,
                rmsNormEpsilon: Float) {
        self.vocabularySize = vocabularySize
        self.embeddingLength = embeddingLength
        self.layerCount = layerCount
        self.headCount = headCount
        self.kvHeadCount = kvHeadCount
        self.headDim = embeddingLength / headCount
        self.feedForwardLength = feedForwardLength
        self.contextLength = contextLength
        self.ropeFreqBase = ropeFreqBase
        self.ropeDimensions = ropeDimensions ?? embeddingLength / headCount
        self.rmsNormEpsilon = rmsNormEpsilon
    }

    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture")
        guard arch == "llama" else { throw ModelError.unsupportedArchitecture(arch) }
        let embedding = try gguf.int("llama.embedding_length")
        let heads = try gguf.int("llama.attention.head_count")
        let vocab: Int
        if let v = gguf.metadata["llama.vocab_size"]?.intValue {
            vocab = v
        } else {
            vocab = try gguf.stringArray("tokenizer.ggml.tokens").count
        }
        self.init(
            vocabularySize: vocab,
            embeddingLength: embedding,
            layerCount: try gguf.int("llama.block_count"),
            headCount: heads,
            kvHeadCount: gguf.metadata["llama.attention.head_count_kv"]?.intValue ?? heads,
            feedForwardLength: try gguf.int("llama.feed_forward_length"),
            contextLength: try gguf.int("llama.context_length"),
            ropeFreqBase: Float(gguf.metadata["llama.rope.freq_base"]?.doubleValue ?? 10000),
            ropeDimensions: gguf.metadata["llama.rope.dimension_count"]?.intValue,
            rmsNormEpsilon: Float(try gguf.double("llama.attention.layer_norm_rms_epsilon"))
        )
        try validate()
    }

    func validate() throws {
        guard embeddingLength > 0, headCount > 0, kvHeadCount > 0, layerCount > 0, vocabularySize > 0,
              embeddingLength % headCount == 0, headCount % kvHeadCount == 0, headDim % 2 == 0,
              ropeDimensions <= headDim, ropeDimensions % 2 == 0, feedForwardLength > 0
        else { throw ModelError.invalidConfig("inconsistent hyperparameters: \(self)") }
    }
}
