import Foundation
import GGUF

/// Queries and keys of one layer before RoPE, for callers that score tokens (the Memory3 paper
/// ranks a reference's tokens by the attention they receive, without positions). Valid only
/// during the callback.
public struct LayerProjections {
    public let layer: Int
    /// Tokens in this step, and their index in the cache.
    public let tokens: Int
    public let firstIndex: Int
    /// [tokens][headCount * headDim]
    public let queries: UnsafePointer<Float>
    /// [tokens][kvHeadCount * headDim]
    public let keys: UnsafePointer<Float>
}

/// Which positions of a forward call produce logits.
public enum LogitsRequest: Sendable {
    case last
    case all
    case none
}

/// A Llama-architecture decoder (SmolLM2 and kin) running on mmap'd GGUF weights. Immutable and
/// shareable; all per-context state lives in the caller's `KVCache`.
public final class LlamaModel: Sendable {
    public let config: LlamaConfig
    public let file: GGUFFile
    let weights: LlamaWeights
    let rope: Rope
    /// Threads for matrix work. Defaults to the core count.
    public let threads: Int
    /// Tokens per internal forward step: bounds scratch memory for long prompts.
    static let maxStepTokens = 256

    public init(file: GGUFFile, threads: Int? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        let config = try LlamaConfig(gguf: file)
        self.config = config
        self.file = file
        self.weights = try LlamaWeights(file: file, config: config, progress: progress)
        self.rope = Rope(headDim: config.headDim, rotaryDims: config.ropeDimensions, base: config.ropeFreqBase)
        self.threads = max(1, threads ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    public convenience init(path: String, threads: Int? = nil, progress: (@Sendable (Int, Int) -> Void)? = nil) throws {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch let e as GGUFError { throw ModelError.file(e) }
        try self.init(file: file, threads: threads, progress: progress)
    }

    /// A KV cache for this model.
    public func makeCache(capacity: Int, positionOffset: Int = 0) -> KVCache {
        KVCache(config: config, capacity: capacity, positionOffset: positionOffset)
    }

    /// Runs `tokens` after the cache's context, appends their key/values to the cache, and returns
    /// logits ([vocab] for `.last`, [tokens][vocab] for `.all`). `memory` segments are attended by
    /// every token in every layer they cover, before the context.
    /// `observe`, when given, sees each layer's queries and keys before RoPE; `probe`, when given,
    /// records the attention mass its heads pay to each memory segment.
    public func forward(_ tokens: [Int], cache: KVCache, memory: [MemorySegment] = [], logits request: LogitsRequest = .last,
                        observe: ((LayerProjections) -> Void)? = nil, probe: AttentionProbe? = nil) throws -> [Float] {
        guard !tokens.isEmpty else { throw ModelError.emptyInput }
        guard cache.count + tokens.count <= cache.capacity else {
            throw ModelError.contextFull(needed: cache.count + tokens.count, capacity: cache.capacity)
        }
        for t in tokens where t < 0 || t >= config.vocabularySize {
            throw ModelError.invalidToken(t, vocabularySize: config.vocabularySize)
        }
        for m in memory { try m.validate(for: config) }

        let vocab = config.vocabularySize
        var result: [Float] = []
        if request == .all { result.reserveCapacity(tokens.count * vocab) }
        probe?.begin(tokens: tokens.count, segments: memory.count, config: config)
        var start = 0
        while start < tokens.count {
            let end = min(start + Self.maxStepTokens, tokens.count)
            let step = Array(tokens[start ..< end])
            let wantsLogits: LogitsRequest = request == .all ? .all : (end == tokens.count ? request : .none)
            let stepLogits = forwardStep(step, cache: cache, memory: memory, logits: wantsLogits,
                                         observe: observe, probe: probe.map { ($0, start) })
            if request == .all || end == tokens.count { result.append(contentsOf: stepLogits) }
            start = end
        }
        return result
    }

    /// Runs `tokens` through layers 0...`lastLayer` only, recording `probe`, and leaves the cache
    /// as it was (its count does not move; the positions written are overwritten by the next
    /// forward). This is the cheap first pass of reranking memories with a retrieval head.
    public func probeAttention(_ tokens: [Int], cache: KVCache, memory: [MemorySegment],
                               probe: AttentionProbe, throughLayer lastLayer: Int) throws {
        guard !tokens.isEmpty else { throw ModelError.emptyInput }
        guard tokens.count <= Self.maxStepTokens else {
            throw ModelError.invalidConfig("a probe pass takes at most \(Self.maxStepTokens) tokens")
        }
        guard cache.count + tokens.count <= cache.capacity else {
            throw ModelError.contextFull(needed: cache.count + tokens.count, capacity: cache.capacity)
        }
        for t in tokens where t < 0 || t >= config.vocabularySize {
            throw ModelError.invalidToken(t, vocabularySize: config.vocabularySize)
        }
        for m in memory { try m.validate(for: config) }
        probe.begin(tokens: tokens.count, segments: memory.count, config: config)
        _ = forwardStep(tokens, cache: cache, memory: memory, logits: .none, observe: nil, probe: (probe, 0),
                        lastLayer: min(lastLayer, config.layerCount - 1))
    }

    private func forwardStep(_ tokens: [Int], cache: KVCache, memory: [MemorySegment], logits request: LogitsRequest,
                             observe: ((LayerProjections) -> Void)?, probe: (AttentionProbe, tokenOffset: Int)?,
                             lastLayer: Int? = nil) -> [Float] {
        let c = config
        let n = tokens.count
        let e = c.embeddingLength
        let s = cache.scratch
        s.reserve(tokens: n, config: c)
        let x = s.x, normed = s.normed
        let firstIndex = cache.count

        for (t, token) in tokens.enumerated() {
            weights.tokenEmbedding.dequantizeRow(token, into: x + t * e)
        }

        for (layerIndex, layer) in weights.layers.enumerated() {
            if let lastLayer, layerIndex > lastLayer { break }
            // Attention block: x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
            rmsNorm(x, weight: layer.attentionNorm, tokens: n, into: normed)
            layer.query.multiply(normed, tokens: n, into: s.q, blocks: s.blocks, threads: threads)
            layer.key.multiply(normed, tokens: n, into: s.k, blocks: s.blocks, threads: threads)
            layer.value.multiply(normed, tokens: n, into: s.v, blocks: s.blocks, threads: threads)
            observe?(LayerProjections(layer: layerIndex, tokens: n, firstIndex: firstIndex, queries: s.q, keys: s.k))
            for t in 0 ..< n {
                let position = cache.positionOffset + firstIndex + t
                rope.apply(s.q + t * c.queryDim, heads: c.headCount, position: position)
                rope.apply(s.k + t * c.kvDim, heads: c.kvHeadCount, position: position)
            }
            storeKeyValues(cache: cache, layer: layerIndex, firstIndex: firstIndex, tokens: n)
            Attention.run(layer: layerIndex, queries: s.q, tokens: n, firstIndex: firstIndex,
                          cache: cache, memory: memory, config: c, into: s.attention, threads: threads, probe: probe)
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
        if lastLayer != nil { return [] }  // a probe pass: the cache keeps its count
        cache.advance(by: n)

        switch request {
        case .none:
            return []
        case .last:
            rmsNorm(x + (n - 1) * e, weight: weights.outputNorm, tokens: 1, into: normed)
            return [Float](unsafeUninitializedCapacity: c.vocabularySize) { out, count in
                weights.output.multiply(normed, tokens: 1, into: out.baseAddress!, blocks: s.blocks, threads: threads)
                count = c.vocabularySize
            }
        case .all:
            rmsNorm(x, weight: weights.outputNorm, tokens: n, into: normed)
            return [Float](unsafeUninitializedCapacity: n * c.vocabularySize) { out, count in
                weights.output.multiply(normed, tokens: n, into: out.baseAddress!, blocks: s.blocks, threads: threads)
                count = n * c.vocabularySize
            }
        }
    }

    private func storeKeyValues(cache: KVCache, layer: Int, firstIndex: Int, tokens n: Int) {
        let c = config
        let s = cache.scratch
        for t in 0 ..< n {
            for h in 0 ..< c.kvHeadCount {
                let o = cache.offset(layer: layer, head: h, token: firstIndex + t)
                (cache.keys + o).update(from: s.k + t * c.kvDim + h * c.headDim, count: c.headDim)
                (cache.values + o).update(from: s.v + t * c.kvDim + h * c.headDim, count: c.headDim)
            }
        }
    }

    private func rmsNorm(_ x: UnsafeMutablePointer<Float>, weight: [Float], tokens n: Int, into out: UnsafeMutablePointer<Float>) {
        let e = config.embeddingLength
        let eps = config.rmsNormEpsilon
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
