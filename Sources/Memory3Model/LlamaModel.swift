import Foundation
import GGUF

/// A Llama-family decoder (`LlamaVariant`: Llama and SmolLM, Qwen2, Qwen3) running on mmap'd
/// GGUF weights. Immutable and shareable; all per-sequence state lives in the caller's `KVCache`.
public final class LlamaModel: DecoderModel {
    public let llamaConfig: LlamaConfig
    public let config: DecoderConfig
    public let file: GGUFFile
    let weights: LlamaWeights
    let rope: Rope
    /// Threads for matrix work. Defaults to the core count.
    public let threads: Int
    private let scratch: ScratchPool
    /// Each layer's query/key/value and gate/up, grouped once (WeightMatrix.swift).
    private let groups: [LayerMatrixGroups]

    public init(file: GGUFFile, threads: Int? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        let config = try LlamaConfig(gguf: file)
        self.llamaConfig = config
        self.config = config.decoder
        self.file = file
        self.weights = try LlamaWeights(file: file, config: config, progress: progress)
        self.rope = Rope(headDim: config.headDim, rotaryDims: config.ropeDimensions, base: config.ropeFreqBase,
                         pairing: config.variant.halfSplitRope ? .halfSplit : .adjacent,
                         frequencyFactors: weights.ropeFrequencyFactors)
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        self.groups = weights.layers.map {
            LayerMatrixGroups(queryKeyValue: MatrixGroup($0.query, $0.key, $0.value), gateUp: MatrixGroup($0.gate, $0.up))
        }
        self.scratch = ScratchPool(shape: .init(embedding: config.embeddingLength, queryDim: config.queryDim,
                                                kvDim: config.kvDim, hidden: config.feedForwardLength))
    }

    public convenience init(path: String, threads: Int? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch let e as GGUFError { throw ModelError.file(e) }
        try self.init(file: file, threads: threads, progress: progress)
    }

    public func forward(batch: [ForwardRequest], throughLayer lastLayer: Int? = nil) throws -> [[Float]] {
        guard !batch.isEmpty else { return [] }
        try validate(batch: batch)
        let rows = batch.reduce(0) { $0 + $1.tokens.count }
        return scratch.withScratch(tokens: rows) { s in
            forwardStep(batch, rows: rows, scratch: s, lastLayer: lastLayer.map { min(max($0, 0), llamaConfig.layerCount - 1) })
        }
    }

    /// The layers over all rows of the batch: rows are the requests' tokens back to back.
    private func forwardStep(_ batch: [ForwardRequest], rows n: Int, scratch s: ForwardScratch, lastLayer: Int?) -> [[Float]] {
        let c = llamaConfig
        let e = c.embeddingLength
        let x = s.x, normed = s.normed
        let profile = StepProfile.active
        let sequences = DecoderBlocks.layout(batch, embed: { weights.tokenEmbedding.dequantizeRow($0, into: $1) }, x: x, width: e)
        let rotations = s.rotations
        rope.rotations(sequences, positionOf: { $0.cache.positionOffset + $0.firstIndex + $1 }, into: rotations)
        profile?.lap(.embedding)

        for (layerIndex, layer) in weights.layers.enumerated() {
            if let lastLayer, layerIndex > lastLayer { break }
            // Attention block: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
            DecoderBlocks.rmsNorm(x, weight: layer.attentionNorm, rows: n, width: e, epsilon: c.rmsNormEpsilon, into: normed)
            profile?.lap(.norms)
            groups[layerIndex].queryKeyValue.multiply(normed, tokens: n, into: s.q, s.k, s.v, blocks: s.blocks, threads: threads)
            profile?.lap(.queryKeyValue)
            if let b = layer.queryBias { DecoderBlocks.addBias(b, to: s.q, rows: n) }
            if let b = layer.keyBias { DecoderBlocks.addBias(b, to: s.k, rows: n) }
            if let b = layer.valueBias { DecoderBlocks.addBias(b, to: s.v, rows: n) }
            for (request, sequence) in zip(batch, sequences) {
                request.observe?(LayerProjections(layer: layerIndex, tokens: sequence.tokens, firstIndex: sequence.firstIndex,
                                                  queries: s.q + sequence.row * c.queryDim, keys: s.k + sequence.row * c.kvDim))
            }
            if let w = layer.queryNorm {
                DecoderBlocks.rmsNormHeads(s.q, weight: w, rows: n, heads: c.headCount, headDim: c.headDim, epsilon: c.rmsNormEpsilon)
            }
            if let w = layer.keyNorm {
                DecoderBlocks.rmsNormHeads(s.k, weight: w, rows: n, heads: c.kvHeadCount, headDim: c.headDim, epsilon: c.rmsNormEpsilon)
            }
            for sequence in sequences {
                for t in 0 ..< sequence.tokens {
                    rope.apply(s.q + (sequence.row + t) * c.queryDim, heads: c.headCount, rotations: rotations, row: sequence.row + t)
                    rope.apply(s.k + (sequence.row + t) * c.kvDim, heads: c.kvHeadCount, rotations: rotations, row: sequence.row + t)
                }
                DecoderBlocks.storeKeyValues(keys: s.k, values: s.v, sequence: sequence, layer: layerIndex, config: config)
            }
            DecoderBlocks.roundToHalf(s.q, count: n * c.queryDim)
            profile?.lap(.ropeAndCache)
            DecoderBlocks.observeAttended(batch, sequences, layer: layerIndex, queries: s.q, keys: s.k,
                                          scoreScale: 1 / Float(c.headDim).squareRoot(), config: config)
            Attention.run(layer: layerIndex, queries: s.q, sequences: sequences, config: config, into: s.attention, threads: threads)
            profile?.lap(.attention)
            layer.output.multiply(s.attention, tokens: n, into: normed, blocks: s.blocks, threads: threads)
            DecoderBlocks.add(normed, into: x, count: n * e)
            profile?.lap(.attentionOutput)

            // Feed-forward block (SwiGLU): x += Wdown · (silu(Wgate·norm(x)) * Wup·norm(x))
            DecoderBlocks.rmsNorm(x, weight: layer.feedForwardNorm, rows: n, width: e, epsilon: c.rmsNormEpsilon, into: normed)
            profile?.lap(.norms)
            groups[layerIndex].gateUp.multiply(normed, tokens: n, into: s.gate, s.up, blocks: s.blocks, threads: threads)
            profile?.lap(.gateUp)
            DecoderBlocks.swiGLU(s.gate, s.up, count: n * c.feedForwardLength, threads: threads)
            profile?.lap(.activation)
            layer.down.multiply(s.gate, tokens: n, into: normed, blocks: s.blocks, threads: threads)
            DecoderBlocks.add(normed, into: x, count: n * e)
            profile?.lap(.down)
        }
        if lastLayer != nil { return batch.map { _ in [] } }  // a probe pass: the caches keep their counts
        for sequence in sequences { sequence.cache.advance(by: sequence.tokens) }
        defer { profile?.lap(.logits) }
        return DecoderBlocks.logits(
            batch, sequences: sequences, x: x, normed: normed, width: e, vocabulary: c.vocabularySize,
            norm: { DecoderBlocks.rmsNorm($0, weight: weights.outputNorm, rows: $1, width: e, epsilon: c.rmsNormEpsilon, into: $2) },
            project: { weights.output.multiply($0, tokens: $1, into: $2, blocks: s.blocks, threads: threads) })
    }
}
