import Foundation
import GGUF

/// A Llama-architecture decoder (SmolLM2 and kin) running on mmap'd GGUF weights. Immutable and
/// shareable; all per-sequence state lives in the caller's `KVCache`.
public final class LlamaModel: DecoderModel {
    public let llamaConfig: LlamaConfig
    public let config: DecoderConfig
    public let file: GGUFFile
    let weights: LlamaWeights
    let rope: Rope
    /// Threads for matrix work. Defaults to the core count.
    public let threads: Int
    private let scratch: ScratchPool

    public init(file: GGUFFile, threads: Int? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        let config = try LlamaConfig(gguf: file)
        self.llamaConfig = config
        self.config = config.decoder
        self.file = file
        self.weights = try LlamaWeights(file: file, config: config, progress: progress)
        self.rope = Rope(headDim: config.headDim, rotaryDims: config.ropeDimensions, base: config.ropeFreqBase)
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
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

        var sequences: [Attention.Sequence] = []
        sequences.reserveCapacity(batch.count)
        var row = 0
        for request in batch {
            sequences.append(Attention.Sequence(row: row, tokens: request.tokens.count, firstIndex: request.cache.count,
                                                cache: request.cache, memory: request.memory,
                                                probe: request.probe.map { ($0, request.probeTokenOffset) }))
            for token in request.tokens {
                weights.tokenEmbedding.dequantizeRow(token, into: x + row * e)
                row += 1
            }
        }

        for (layerIndex, layer) in weights.layers.enumerated() {
            if let lastLayer, layerIndex > lastLayer { break }
            // Attention block: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
            rmsNorm(x, weight: layer.attentionNorm, tokens: n, into: normed)
            layer.query.multiply(normed, tokens: n, into: s.q, blocks: s.blocks, threads: threads)
            layer.key.multiply(normed, tokens: n, into: s.k, blocks: s.blocks, threads: threads)
            layer.value.multiply(normed, tokens: n, into: s.v, blocks: s.blocks, threads: threads)
            for (request, sequence) in zip(batch, sequences) {
                request.observe?(LayerProjections(layer: layerIndex, tokens: sequence.tokens, firstIndex: sequence.firstIndex,
                                                  queries: s.q + sequence.row * c.queryDim, keys: s.k + sequence.row * c.kvDim))
                let cache = sequence.cache
                for t in 0 ..< sequence.tokens {
                    let position = cache.positionOffset + sequence.firstIndex + t
                    rope.apply(s.q + (sequence.row + t) * c.queryDim, heads: c.headCount, position: position)
                    rope.apply(s.k + (sequence.row + t) * c.kvDim, heads: c.kvHeadCount, position: position)
                }
                storeKeyValues(s, sequence: sequence, layer: layerIndex)
            }
            Attention.run(layer: layerIndex, queries: s.q, sequences: sequences, config: config, into: s.attention, threads: threads)
            layer.output.multiply(s.attention, tokens: n, into: normed, blocks: s.blocks, threads: threads)
            add(normed, into: x, count: n * e)

            // Feed-forward block (SwiGLU): x += Wdown · (silu(Wgate·norm(x)) * Wup·norm(x))
            rmsNorm(x, weight: layer.feedForwardNorm, tokens: n, into: normed)
            layer.gate.multiply(normed, tokens: n, into: s.gate, blocks: s.blocks, threads: threads)
            layer.up.multiply(normed, tokens: n, into: s.up, blocks: s.blocks, threads: threads)
            swiGLU(s.gate, s.up, count: n * c.feedForwardLength)
            layer.down.multiply(s.gate, tokens: n, into: normed, blocks: s.blocks, threads: threads)
            add(normed, into: x, count: n * e)
        }
        if lastLayer != nil { return batch.map { _ in [] } }  // a probe pass: the caches keep their counts
        for sequence in sequences { sequence.cache.advance(by: sequence.tokens) }
        return logits(batch, sequences: sequences, scratch: s)
    }

    /// The output projection of the rows that want logits, gathered so that one multiply serves
    /// the whole batch.
    private func logits(_ batch: [ForwardRequest], sequences: [Attention.Sequence], scratch s: ForwardScratch) -> [[Float]] {
        let e = llamaConfig.embeddingLength, vocab = llamaConfig.vocabularySize
        var wanted = 0
        for (request, sequence) in zip(batch, sequences) {
            switch request.logits {
            case .none: continue
            case .last:
                rmsNorm(s.x + (sequence.row + sequence.tokens - 1) * e, weight: weights.outputNorm, tokens: 1, into: s.normed + wanted * e)
                wanted += 1
            case .all:
                rmsNorm(s.x + sequence.row * e, weight: weights.outputNorm, tokens: sequence.tokens, into: s.normed + wanted * e)
                wanted += sequence.tokens
            }
        }
        guard wanted > 0 else { return batch.map { _ in [] } }
        let all = [Float](unsafeUninitializedCapacity: wanted * vocab) { out, count in
            weights.output.multiply(s.normed, tokens: wanted, into: out.baseAddress!, blocks: s.blocks, threads: threads)
            count = wanted * vocab
        }
        if batch.count == 1 { return [all] }
        var results: [[Float]] = []
        results.reserveCapacity(batch.count)
        var next = 0
        for (request, sequence) in zip(batch, sequences) {
            let rows = request.logits == .none ? 0 : (request.logits == .last ? 1 : sequence.tokens)
            results.append(Array(all[next * vocab ..< (next + rows) * vocab]))
            next += rows
        }
        return results
    }

    private func storeKeyValues(_ s: ForwardScratch, sequence: Attention.Sequence, layer: Int) {
        let c = llamaConfig
        let cache = sequence.cache
        for t in 0 ..< sequence.tokens {
            let row = sequence.row + t
            for h in 0 ..< c.kvHeadCount {
                let o = cache.offset(layer: layer, head: h, token: sequence.firstIndex + t)
                (cache.keys + o).update(from: s.k + row * c.kvDim + h * c.headDim, count: c.headDim)
                (cache.values + o).update(from: s.v + row * c.kvDim + h * c.headDim, count: c.headDim)
            }
        }
    }

    private func rmsNorm(_ x: UnsafeMutablePointer<Float>, weight: [Float], tokens n: Int, into out: UnsafeMutablePointer<Float>) {
        let e = llamaConfig.embeddingLength
        let eps = llamaConfig.rmsNormEpsilon
        weight.withUnsafeBufferPointer { w in
            for t in 0 ..< n {
                let row = x + t * e
                let meanSquare = RowKernels.dot(row, row, count: e) / Float(e)
                let scale = 1 / (meanSquare + eps).squareRoot()
                let o = out + t * e
                for i in 0 ..< e { o[i] = row[i] * scale * w[i] }
            }
        }
    }

    private func add(_ delta: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0 ..< count { x[i] += delta[i] }
    }

    /// gate <- silu(gate) * up
    private func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int) {
        for i in 0 ..< count {
            let g = gate[i]
            gate[i] = g / (1 + expf(-g)) * up[i]
        }
    }
}
