import GGUF

/// The weights of one transformer block, read in place from the GGUF mapping.
struct LlamaLayerWeights: @unchecked Sendable {
    let attentionNorm: [Float]
    let query: WeightMatrix
    let key: WeightMatrix
    let value: WeightMatrix
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
            layers.append(LlamaLayerWeights(
                attentionNorm: try loader.vector(p + "attn_norm.weight", count: c.embeddingLength),
                query: try loader.matrix(p + "attn_q.weight", columns: c.embeddingLength, rows: c.queryDim),
                key: try loader.matrix(p + "attn_k.weight", columns: c.embeddingLength, rows: c.kvDim),
                value: try loader.matrix(p + "attn_v.weight", columns: c.embeddingLength, rows: c.kvDim),
                output: try loader.matrix(p + "attn_output.weight", columns: c.queryDim, rows: c.embeddingLength),
                feedForwardNorm: try loader.vector(p + "ffn_norm.weight", count: c.embeddingLength),
                gate: try loader.matrix(p + "ffn_gate.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                up: try loader.matrix(p + "ffn_up.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                down: try loader.matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: c.embeddingLength)
            ))
            progress?(i + 1, c.layerCount)
        }
        self.layers = layers
        try loader.checkMultipliable()
    }
}
