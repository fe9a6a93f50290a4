import CKernels
import Foundation

/// Grouped-query attention of new tokens over `[memory segments ; causal context]`.
enum Attention {
    /// For each new token t and query head h: softmax over the memory keys (plus each segment's
    /// bias) and the context keys up to and including t, then the weighted sum of values.
    static func run(layer: Int, queries: UnsafePointer<Float>, tokens n: Int, firstIndex: Int,
                    cache: KVCache, memory: [MemorySegment], config c: LlamaConfig,
                    into out: UnsafeMutablePointer<Float>, threads: Int,
                    probe: (AttentionProbe, tokenOffset: Int)? = nil) {
        let hd = c.headDim
        let dim = Int32(hd)
        let scale = 1 / Float(hd).squareRoot()
        var memoryTokens = 0
        for m in memory where m.slot(ofLayer: layer) != nil { memoryTokens += m.tokenCount }
        let maxKeys = memoryTokens + firstIndex + n

        Parallel.forChunks(of: n * c.headCount, threads: threads) { items in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: maxKeys) { buffer in
                let scores = buffer.baseAddress!
                for item in items {
                    let t = item / c.headCount, h = item % c.headCount
                    let kvHead = h / c.groupSize
                    let q = queries + t * c.queryDim + h * hd
                    let o = out + t * c.queryDim + h * hd
                    let contextKeys = firstIndex + t + 1

                    // Scores: memory first, then context.
                    var k = 0
                    for m in memory {
                        guard let slot = m.slot(ofLayer: layer) else { continue }
                        m.keys.withUnsafeBufferPointer { keys in
                            m3_attention_scores(q, keys.baseAddress! + m.offset(slot: slot, head: kvHead),
                                                Int32(m.tokenCount), dim, scale, m.logitBias, scores + k)
                        }
                        k += m.tokenCount
                    }
                    let cacheKeys = cache.keys + cache.offset(layer: layer, head: kvHead, token: 0)
                    m3_attention_scores(q, cacheKeys, Int32(contextKeys), dim, scale, 0, scores + k)
                    softmax(scores, count: k + contextKeys)
                    if let (probe, tokenOffset) = probe, probe.records(layer: layer, head: h),
                       let slot = probe.slot(layer: layer, head: h, token: tokenOffset + t) {
                        recordMass(scores, memory: memory, layer: layer, probe: probe, slot: slot)
                    }

                    // Weighted sum of values, same order.
                    o.initialize(repeating: 0, count: hd)
                    k = 0
                    for m in memory {
                        guard let slot = m.slot(ofLayer: layer) else { continue }
                        m.values.withUnsafeBufferPointer { values in
                            m3_attention_accumulate(scores + k, values.baseAddress! + m.offset(slot: slot, head: kvHead),
                                                    Int32(m.tokenCount), dim, o)
                        }
                        k += m.tokenCount
                    }
                    let cacheValues = cache.values + cache.offset(layer: layer, head: kvHead, token: 0)
                    m3_attention_accumulate(scores + k, cacheValues, Int32(contextKeys), dim, o)
                }
            }
        }
    }

    /// Sums the probabilities over each segment's keys (segments without this layer get 0).
    static func recordMass(_ probabilities: UnsafePointer<Float>, memory: [MemorySegment], layer: Int,
                           probe: AttentionProbe, slot: Int) {
        var k = 0
        for (i, m) in memory.enumerated() {
            guard m.slot(ofLayer: layer) != nil else { continue }
            var mass: Float = 0
            for j in 0 ..< m.tokenCount { mass += probabilities[k + j] }
            probe.store(mass, at: slot + i)
            k += m.tokenCount
        }
    }

    static func softmax(_ v: UnsafeMutablePointer<Float>, count: Int) {
        m3_softmax(v, Int32(count))
    }
}
