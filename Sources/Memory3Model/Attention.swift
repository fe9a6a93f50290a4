import Foundation

/// Grouped-query attention of new tokens over `[memory segments ; causal context]`.
enum Attention {
    /// For each new token t and query head h: softmax over the memory keys (plus each segment's
    /// bias) and the context keys up to and including t, then the weighted sum of values.
    static func run(layer: Int, queries: UnsafePointer<Float>, tokens n: Int, firstIndex: Int,
                    cache: KVCache, memory: [MemorySegment], config c: LlamaConfig,
                    into out: UnsafeMutablePointer<Float>, threads: Int) {
        let hd = c.headDim
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
                        let base = m.offset(slot: slot, head: kvHead)
                        m.keys.withUnsafeBufferPointer { keys in
                            for j in 0 ..< m.tokenCount {
                                scores[k] = RowKernels.dot(q, keys.baseAddress! + base + j * hd, count: hd) * scale + m.logitBias
                                k += 1
                            }
                        }
                    }
                    let cacheKeys = cache.keys + cache.offset(layer: layer, head: kvHead, token: 0)
                    for j in 0 ..< contextKeys {
                        scores[k + j] = RowKernels.dot(q, cacheKeys + j * hd, count: hd) * scale
                    }
                    let total = k + contextKeys
                    softmax(scores, count: total)

                    // Weighted sum of values, same order.
                    for i in 0 ..< hd { o[i] = 0 }
                    k = 0
                    for m in memory {
                        guard let slot = m.slot(ofLayer: layer) else { continue }
                        let base = m.offset(slot: slot, head: kvHead)
                        m.values.withUnsafeBufferPointer { values in
                            for j in 0 ..< m.tokenCount {
                                accumulate(scores[k], values.baseAddress! + base + j * hd, into: o, count: hd)
                                k += 1
                            }
                        }
                    }
                    let cacheValues = cache.values + cache.offset(layer: layer, head: kvHead, token: 0)
                    for j in 0 ..< contextKeys {
                        accumulate(scores[k + j], cacheValues + j * hd, into: o, count: hd)
                    }
                }
            }
        }
    }

    static func softmax(_ v: UnsafeMutablePointer<Float>, count: Int) {
        var maxValue = -Float.infinity
        for i in 0 ..< count { maxValue = max(maxValue, v[i]) }
        var sum: Float = 0
        for i in 0 ..< count {
            let e = expf(v[i] - maxValue)
            v[i] = e
            sum += e
        }
        let inv = 1 / sum
        for i in 0 ..< count { v[i] *= inv }
    }

    @inline(__always)
    static func accumulate(_ weight: Float, _ v: UnsafePointer<Float>, into o: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0 ..< count { o[i] += weight * v[i] }
    }
}
