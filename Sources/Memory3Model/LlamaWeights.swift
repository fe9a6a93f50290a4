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
        func matrix(_ name: String, columns: Int, rows: Int) throws -> WeightMatrix {
            try WeightMatrix(file: file, name: name, columns: columns, rows: rows)
        }
        func vector(_ name: String, count: Int) throws -> [Float] {
            guard let info = file.tensor(named: name) else { throw ModelError.file(.missingTensor(name)) }
            guard info.dimensions == [count] else {
                throw ModelError.file(.wrongTensorShape(tensor: name, expected: [count], found: info.dimensions))
            }
            return file.floats(of: info)
        }
        tokenEmbedding = try matrix("token_embd.weight", columns: c.embeddingLength, rows: c.vocabularySize)
        outputNorm = try vector("output_norm.weight", count: c.embeddingLength)
        if file.tensor(named: "output.weight") != nil {
            output = try matrix("output.weight", columns: c.embeddingLength, rows: c.vocabularySize)
        } else {
            output = tokenEmbedding
        }
        var layers: [LlamaLayerWeights] = []
        for i in 0 ..< c.layerCount {
            let p = "blk.\(i)."
            layers.append(LlamaLayerWeights(
                attentionNorm: try vector(p + "attn_norm.weight", count: c.embeddingLength),
                query: try matrix(p + "attn_q.weight", columns: c.embeddingLength, rows: c.queryDim),
                key: try matrix(p + "attn_k.weight", columns: c.embeddingLength, rows: c.kvDim),
                value: try matrix(p + "attn_v.weight", columns: c.embeddingLength, rows: c.kvDim),
                output: try matrix(p + "attn_output.weight", columns: c.queryDim, rows: c.embeddingLength),
                feedForwardNorm: try vector(p + "ffn_norm.weight", count: c.embeddingLength),
                gate: try matrix(p + "ffn_gate.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                up: try matrix(p + "ffn_up.weight", columns: c.embeddingLength, rows: c.feedForwardLength),
                down: try matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: c.embeddingLength)
            ))
            progress?(i + 1, c.layerCount)
        }
        self.layers = layers
        for m in [tokenEmbedding, output] + layers.flatMap({ [$0.query, $0.key, $0.value, $0.output, $0.gate, $0.up, $0.down] }) {
            guard m.columns % m.type.blockSize == 0 else {
                throw ModelError.unsupportedWeightType(tensor: m.name, type: m.type.name)
            }
        }
    }
}
