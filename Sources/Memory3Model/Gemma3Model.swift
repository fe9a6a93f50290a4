import Foundation
import GGUF

/// The hyperparameters of a Gemma 3 model, read from GGUF metadata (`gemma3.*` keys).
public struct Gemma3Config: Sendable, Codable, Equatable {
    public var shape: DecoderConfig
    public var feedForwardLength: Int
    public var rmsNormEpsilon: Float
    /// RoPE base of the global layers, and of the sliding-window (local) layers.
    public var ropeFreqBase: Float
    public var ropeFreqBaseLocal: Float
    /// Tokens a local layer's query sees behind it (itself included); nil: no local layers.
    public var slidingWindow: Int?
    /// Every `slidingWindowPattern`-th layer is global, the others local (Gemma 3: 6).
    public var slidingWindowPattern: Int
    /// tanh soft cap on the logits, when set.
    public var finalLogitSoftcap: Float?
    /// Multiplies attention scores.
    public var attentionScale: Float

    public init(gguf: GGUFFile) throws {
        let arch = try gguf.string("general.architecture")
        guard arch == "gemma3" else { throw ModelError.unsupportedArchitecture(arch) }
        func int(_ key: String) throws -> Int { try gguf.int("gemma3." + key) }
        func optionalDouble(_ key: String) -> Double? { gguf.metadata["gemma3." + key]?.doubleValue }
        let embedding = try int("embedding_length")
        let heads = try int("attention.head_count")
        let headDim = gguf.metadata["gemma3.attention.key_length"]?.intValue ?? embedding / heads
        let vocab = try gguf.metadata["gemma3.vocab_size"]?.intValue ?? gguf.stringArray("tokenizer.ggml.tokens").count
        shape = DecoderConfig(architecture: arch, vocabularySize: vocab, embeddingLength: embedding,
                              layerCount: try int("block_count"), headCount: heads,
                              kvHeadCount: gguf.metadata["gemma3.attention.head_count_kv"]?.intValue ?? heads,
                              headDim: headDim, contextLength: try int("context_length"))
        feedForwardLength = try int("feed_forward_length")
        rmsNormEpsilon = Float(optionalDouble("attention.layer_norm_rms_epsilon") ?? 1e-6)
        ropeFreqBase = Float(optionalDouble("rope.freq_base") ?? 1_000_000)
        ropeFreqBaseLocal = Float(optionalDouble("rope.freq_base_swa") ?? 10_000)
        let window = gguf.metadata["gemma3.attention.sliding_window"]?.intValue ?? 0
        slidingWindow = window > 0 ? window : nil
        shape.slidingWindow = slidingWindow
        slidingWindowPattern = gguf.metadata["gemma3.attention.sliding_window_pattern"]?.intValue ?? 6
        let cap = optionalDouble("final_logit_softcapping") ?? 0
        finalLogitSoftcap = cap > 0 ? Float(cap) : nil
        // Gemma 3 scales queries by 1/sqrt(head dim) (27B: by 1/sqrt(embedding / heads)).
        attentionScale = 1 / Float(shape.layerCount == 62 ? embedding / heads : headDim).squareRoot()
        guard shape.kvHeadCount > 0, heads % shape.kvHeadCount == 0, headDim % 8 == 0, feedForwardLength > 0,
              slidingWindowPattern > 0 else {
            throw ModelError.invalidConfig("inconsistent Gemma 3 hyperparameters: \(self)")
        }
    }

    /// Whether `layer` attends through the sliding window (the others see the whole context).
    public func isLocal(_ layer: Int) -> Bool {
        slidingWindow != nil && layer % slidingWindowPattern < slidingWindowPattern - 1
    }
}

/// The weights of one Gemma 3 block.
struct Gemma3LayerWeights: @unchecked Sendable {
    let attentionNorm: [Float]
    let query: WeightMatrix
    let key: WeightMatrix
    let value: WeightMatrix
    let queryNorm: [Float]
    let keyNorm: [Float]
    let output: WeightMatrix
    let postAttentionNorm: [Float]
    let feedForwardNorm: [Float]
    let gate: WeightMatrix
    let up: WeightMatrix
    let down: WeightMatrix
    let postFeedForwardNorm: [Float]
}

/// Gemma 3 (the 270M and kin): embeddings scaled by sqrt(width); per block RMS norms before and
/// after attention and the feed-forward; QK-norm; RoPE on half-split pairs with one base for the
/// global layers and another for the sliding-window ones; GeGLU; tied output.
public final class Gemma3Model: DecoderModel {
    public let gemmaConfig: Gemma3Config
    public var config: DecoderConfig { gemmaConfig.shape }
    public let file: GGUFFile
    public let threads: Int
    let tokenEmbedding: WeightMatrix
    let outputNorm: [Float]
    let output: WeightMatrix
    let layers: [Gemma3LayerWeights]
    let globalRope: Rope
    let localRope: Rope
    private let scratch: ScratchPool
    /// Each layer's query/key/value and gate/up, grouped once (WeightMatrix.swift).
    private let groups: [LayerMatrixGroups]

    public init(file: GGUFFile, threads: Int? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        let c = try Gemma3Config(gguf: file)
        gemmaConfig = c
        self.file = file
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
        let s = c.shape
        let loader = WeightLoader(file: file)
        tokenEmbedding = try loader.matrix("token_embd.weight", columns: s.embeddingLength, rows: s.vocabularySize)
        outputNorm = try loader.vector("output_norm.weight", count: s.embeddingLength)
        output = file.tensor(named: "output.weight") != nil
            ? try loader.matrix("output.weight", columns: s.embeddingLength, rows: s.vocabularySize) : tokenEmbedding
        var layers: [Gemma3LayerWeights] = []
        for i in 0 ..< s.layerCount {
            let p = "blk.\(i)."
            layers.append(Gemma3LayerWeights(
                attentionNorm: try loader.vector(p + "attn_norm.weight", count: s.embeddingLength),
                query: try loader.matrix(p + "attn_q.weight", columns: s.embeddingLength, rows: s.queryDim),
                key: try loader.matrix(p + "attn_k.weight", columns: s.embeddingLength, rows: s.kvDim),
                value: try loader.matrix(p + "attn_v.weight", columns: s.embeddingLength, rows: s.kvDim),
                queryNorm: try loader.vector(p + "attn_q_norm.weight", count: s.headDim),
                keyNorm: try loader.vector(p + "attn_k_norm.weight", count: s.headDim),
                output: try loader.matrix(p + "attn_output.weight", columns: s.queryDim, rows: s.embeddingLength),
                postAttentionNorm: try loader.vector(p + "post_attention_norm.weight", count: s.embeddingLength),
                feedForwardNorm: try loader.vector(p + "ffn_norm.weight", count: s.embeddingLength),
                gate: try loader.matrix(p + "ffn_gate.weight", columns: s.embeddingLength, rows: c.feedForwardLength),
                up: try loader.matrix(p + "ffn_up.weight", columns: s.embeddingLength, rows: c.feedForwardLength),
                down: try loader.matrix(p + "ffn_down.weight", columns: c.feedForwardLength, rows: s.embeddingLength),
                postFeedForwardNorm: try loader.vector(p + "post_ffw_norm.weight", count: s.embeddingLength)))
            progress?(i + 1, s.layerCount)
        }
        self.layers = layers
        groups = layers.map {
            LayerMatrixGroups(queryKeyValue: MatrixGroup($0.query, $0.key, $0.value), gateUp: MatrixGroup($0.gate, $0.up))
        }
        try loader.checkMultipliable()
        globalRope = Rope(headDim: s.headDim, rotaryDims: s.headDim, base: c.ropeFreqBase, pairing: .halfSplit)
        localRope = Rope(headDim: s.headDim, rotaryDims: s.headDim, base: c.ropeFreqBaseLocal, pairing: .halfSplit)
        scratch = ScratchPool(shape: .init(embedding: s.embeddingLength, queryDim: s.queryDim, kvDim: s.kvDim,
                                           hidden: c.feedForwardLength))
    }

    public func forward(batch: [ForwardRequest], throughLayer lastLayer: Int? = nil) throws -> [[Float]] {
        guard !batch.isEmpty else { return [] }
        try validate(batch: batch)
        let rows = batch.reduce(0) { $0 + $1.tokens.count }
        return scratch.withScratch(tokens: rows) { s in
            forwardStep(batch, rows: rows, scratch: s, lastLayer: lastLayer.map { min(max($0, 0), config.layerCount - 1) })
        }
    }

    private func forwardStep(_ batch: [ForwardRequest], rows n: Int, scratch s: ForwardScratch, lastLayer: Int?) -> [[Float]] {
        let g = gemmaConfig, c = g.shape
        let e = c.embeddingLength, eps = g.rmsNormEpsilon
        let x = s.x, normed = s.normed
        let embeddingScale = Float(e).squareRoot()
        let sequences = DecoderBlocks.layout(batch, embed: { token, row in
            self.tokenEmbedding.dequantizeRow(token, into: row)
            DecoderBlocks.scale(row, by: embeddingScale, count: e)
        }, x: x, width: e)
        let profile = StepProfile.active
        let position = { (sequence: Attention.Sequence, t: Int) in sequence.cache.positionOffset + sequence.firstIndex + t }
        let localRotations = s.rotations, globalRotations = s.rotations + n * c.headDim
        localRope.rotations(sequences, positionOf: position, into: localRotations)
        globalRope.rotations(sequences, positionOf: position, into: globalRotations)
        profile?.lap(.embedding)

        for (layerIndex, layer) in layers.enumerated() {
            if let lastLayer, layerIndex > lastLayer { break }
            let local = g.isLocal(layerIndex)
            let rope = local ? localRope : globalRope
            let rotations = local ? localRotations : globalRotations
            // Attention block: x += postnorm(Wo · attention(rope(qnorm(Wq·norm(x))), rope(knorm(Wk·norm(x))), Wv·norm(x)))
            DecoderBlocks.rmsNorm(x, weight: layer.attentionNorm, rows: n, width: e, epsilon: eps, into: normed)
            profile?.lap(.norms)
            groups[layerIndex].queryKeyValue.multiply(normed, tokens: n, into: s.q, s.k, s.v, blocks: s.blocks, threads: threads)
            profile?.lap(.queryKeyValue)
            for (request, sequence) in zip(batch, sequences) {
                request.observe?(LayerProjections(layer: layerIndex, tokens: sequence.tokens, firstIndex: sequence.firstIndex,
                                                  queries: s.q + sequence.row * c.queryDim, keys: s.k + sequence.row * c.kvDim))
            }
            DecoderBlocks.rmsNormHeads(s.q, weight: layer.queryNorm, rows: n, heads: c.headCount, headDim: c.headDim, epsilon: eps)
            DecoderBlocks.rmsNormHeads(s.k, weight: layer.keyNorm, rows: n, heads: c.kvHeadCount, headDim: c.headDim, epsilon: eps)
            for sequence in sequences {
                for t in 0 ..< sequence.tokens {
                    rope.apply(s.q + (sequence.row + t) * c.queryDim, heads: c.headCount, rotations: rotations, row: sequence.row + t)
                    rope.apply(s.k + (sequence.row + t) * c.kvDim, heads: c.kvHeadCount, rotations: rotations, row: sequence.row + t)
                }
                DecoderBlocks.storeKeyValues(keys: s.k, values: s.v, sequence: sequence, layer: layerIndex, config: c)
            }
            // Gemma scales the queries, not the scores (the rounding to fp16 comes after).
            DecoderBlocks.scale(s.q, by: g.attentionScale, count: n * c.queryDim)
            DecoderBlocks.roundToHalf(s.q, count: n * c.queryDim)
            profile?.lap(.ropeAndCache)
            DecoderBlocks.observeAttended(batch, sequences, layer: layerIndex, queries: s.q, keys: s.k,
                                          scoreScale: 1, config: c)  // queries already scaled
            Attention.run(layer: layerIndex, queries: s.q, sequences: sequences, config: c, into: s.attention, threads: threads,
                          window: local ? g.slidingWindow : nil, scale: 1, halfProbabilities: false)
            profile?.lap(.attention)
            layer.output.multiply(s.attention, tokens: n, into: normed, blocks: s.blocks, threads: threads)
            DecoderBlocks.rmsNorm(normed, weight: layer.postAttentionNorm, rows: n, width: e, epsilon: eps, into: normed)
            DecoderBlocks.add(normed, into: x, count: n * e)
            profile?.lap(.attentionOutput)

            // Feed-forward block (GeGLU): x += postnorm(Wdown · (gelu(Wgate·norm(x)) * Wup·norm(x)))
            DecoderBlocks.rmsNorm(x, weight: layer.feedForwardNorm, rows: n, width: e, epsilon: eps, into: normed)
            profile?.lap(.norms)
            groups[layerIndex].gateUp.multiply(normed, tokens: n, into: s.gate, s.up, blocks: s.blocks, threads: threads)
            profile?.lap(.gateUp)
            DecoderBlocks.geGLU(s.gate, s.up, count: n * g.feedForwardLength, threads: threads)
            profile?.lap(.activation)
            layer.down.multiply(s.gate, tokens: n, into: normed, blocks: s.blocks, threads: threads)
            DecoderBlocks.rmsNorm(normed, weight: layer.postFeedForwardNorm, rows: n, width: e, epsilon: eps, into: normed)
            DecoderBlocks.add(normed, into: x, count: n * e)
            profile?.lap(.down)
        }
        if lastLayer != nil { return batch.map { _ in [] } }  // a probe pass: the caches keep their counts
        for sequence in sequences { sequence.cache.advance(by: sequence.tokens) }
        let cap = g.finalLogitSoftcap
        defer { profile?.lap(.logits) }
        return DecoderBlocks.logits(
            batch, sequences: sequences, x: x, normed: normed, width: e, vocabulary: c.vocabularySize,
            norm: { DecoderBlocks.rmsNorm($0, weight: self.outputNorm, rows: $1, width: e, epsilon: eps, into: $2) },
            project: { rows, count, out in
                self.output.multiply(rows, tokens: count, into: out, blocks: s.blocks, threads: self.threads)
                if let cap {
                    for i in 0 ..< count * c.vocabularySize { out[i] = tanhf(out[i] / cap) * cap }
                }
            })
    }
}
