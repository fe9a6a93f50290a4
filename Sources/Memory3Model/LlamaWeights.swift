import GGUF

/// The weights of one transformer block, read in place from the GGUF mapping.
struct LlamaLayerWeights: @unchecked Sendable {
    let attentionNorm: [Float]
    let query: WeightMatrix
    let key: WeightMatrix
    let value: WeightMatrix
    /// Q/K/V biases (Qwen2), when the file has them.
    let queryBias: [Float]?
    let keyBias: [Float]?
    let valueBias: [Float]?
    /// Per-head RMS norm weights of queries and keys (Qwen3).
    let queryNorm: [Float]?
    let keyNorm: [Float]?
    let output: WeightMatrix
    let feedForwardNorm: [Float]
    let gate: WeightMatrix
    let up: WeightMatrix
    let down: WeightMatrix
}

/// All weights of a Llama model. The output projection is tied to the token embedding when the
/// file has no `output.weight` (SmolLM2).
struct LlamaWeights: @unchecked Sendable {
    let tokenEmbedding: WeightMatrix
    let outputNorm: [Float]
    let output: WeightMatrix
    let layers: [LlamaLayerWeights]
    /// Llama 3's RoPE frequency divisors (`rope_freqs.weight`, one per rotary pair), when present.
    let ropeFrequencyFactors: [Float]?

    init(file: GGUFFile, config c: LlamaConfig, progress: ((Int, Int) -> Void)? = nil) throws {
        let loader = WeightLoader(file: file)
        tokenEmbedding = try loader.matrix("token_embd.weight", columns: c.embeddingLength, rows: c.vocabularySize)
        outputNorm = try loader.vector("output_norm.weight", count: c.embeddingLength)
        if file.tensor(named: "output.weight") != nil {
            output = try loader.matrix("output.weight", columns: c.embeddingLength, rows: c.vocabularySize)
        } else {
            output = tokenEmbedding
        }
        var layers: [LlamaLayerWeights] = []
        for i in 0 ..< c.layerCount {
            let p = "blk.\(i)."
            func optionalVector(_ name: String, count: Int) throws -> [Float]? {
                file.tensor(named: p + name) == nil ? nil : try loader.vector(p + name, count: count)
            }
            layers.append(LlamaLayerWeights(
                attentionNorm: try loader.vector(p + "attn_norm.weight", count: c.embeddingLength),
                query: try loader.matrix(p + "attn_q.weight", columns: c.embeddingLength, rows: c.queryDim),
                key: try loader.matrix(p + "attn_k.weight", columns: c.embeddingLength, rows: c.kvDim),
                value: try loader.matrix(p + "attn_v.weight", columns: c.embeddingLength, rows: c.kvDim),
                queryBias: try optionalVector("attn_q.bias", count: c.queryDim),
                keyBias: try optionalVector("attn_k.bias", count: c.kvDim),
                valueBias: try optionalVector("attn_v.bias", count: c.kvDim),
                queryNorm: c.variant.queryKeyNorm ? try loader.vector(p + "attn_q_norm.weight", count: c.headDim) : nil,
                keyNorm: c.variant.queryKeyNorm ? try loader.vector(p + "attn_k_norm.weight", count: c.headDim) : nil,
                output: try loader.matrix(p + "attn_output.weight", columns: c.queryDim, rows: c.embeddingLength),
                feedForwardNorm: try loader.vector(p + "ffn_norm.weight", count: c.embeddingLength),
                gate: try loader.matrix(p + "ffn_gate.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                up: try loader.matrix(p + "ffn_up.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                down: try loader.matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: c.embeddingLength)
            ))
            progress?(i + 1, c.layerCount)
        }
        self.layers = layers
        ropeFrequencyFactors = file.tensor(named: "rope_freqs.weight") == nil
            ? nil : try loader.vector("rope_freqs.weight", count: c.ropeDimensions / 2)
        try loader.checkMultipliable()
    }
}
