import CKernels
import Foundation

/// Grouped-query attention of new tokens over `[memory segments ; causal context]`.
enum Attention {
    /// One memory segment as one layer reads it: addresses valid while the segment lives.
    private struct MemoryRead {
        let keys: UnsafeRawPointer
        let values: UnsafeRawPointer
        /// Bytes from one KV head's rows to the next.
        let headStride: Int
        let type: Int32
        let tokens: Int32
        let bias: Float
    }

    /// For each new token t and query head h: softmax over the memory keys (plus each segment's
    /// bias) and the context keys up to and including t, then the weighted sum of values. The
    /// query heads that share a KV head are run together, so each key/value row is read once for
    /// all of them.
    static func run(layer: Int, queries: UnsafePointer<Float>, tokens n: Int, firstIndex: Int,
                    cache: KVCache, memory: [MemorySegment], config c: LlamaConfig,
                    into out: UnsafeMutablePointer<Float>, threads: Int,
                    probe: (AttentionProbe, tokenOffset: Int)? = nil) {
        withUnsafeTemporaryAllocation(of: MemoryRead.self, capacity: memory.count) { buffer in
            var readCount = 0, memoryTokens = 0
            for m in memory {
                guard let slot = m.slot(ofLayer: layer) else { continue }
                let bytes = m.storage.elementBytes
                let headStride = m.tokenCount * m.headDim * bytes
                let first = m.offset(slot: slot, head: 0) * bytes
                (buffer.baseAddress! + readCount).initialize(to: MemoryRead(
                    keys: UnsafeRawPointer(m.storage.keys + first), values: UnsafeRawPointer(m.storage.values + first),
                    headStride: headStride, type: m.storage.kernelType, tokens: Int32(m.tokenCount), bias: m.logitBias))
                readCount += 1
                memoryTokens += m.tokenCount
            }
            let reads = UnsafeBufferPointer(start: buffer.baseAddress!, count: readCount)
            run(layer: layer, queries: queries, tokens: n, firstIndex: firstIndex, cache: cache, memory: memory,
                reads: reads, memoryTokens: memoryTokens, config: c, into: out, threads: threads, probe: probe)
            buffer.baseAddress!.deinitialize(count: readCount)
        }
        withExtendedLifetime(memory) {}
    }

    private static func run(layer: Int, queries: UnsafePointer<Float>, tokens n: Int, firstIndex: Int,
                            cache: KVCache, memory: [MemorySegment], reads: UnsafeBufferPointer<MemoryRead>,
                            memoryTokens: Int, config c: LlamaConfig, into out: UnsafeMutablePointer<Float>,
                            threads: Int, probe: (AttentionProbe, tokenOffset: Int)?) {
        let hd = c.headDim
        let dim = Int32(hd)
        let scale = 1 / Float(hd).squareRoot()
        let maxKeys = memoryTokens + firstIndex + n
        let f32 = Int32(M3_KV_F32)

        // Chunks of at least two groups of heads: a chunk boundary inside a group costs one more
        // read of that group's key/values. Decode (one token) gets one chunk per thread.
        Parallel.forChunks(of: n * c.headCount, threads: threads, minimumChunk: 2 * c.groupSize) { items in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: c.groupSize * maxKeys) { buffer in
                let scores = buffer.baseAddress!
                var item = items.lowerBound
                while item < items.upperBound {
                    let t = item / c.headCount, h = item % c.headCount
                    let kvHead = h / c.groupSize
                    // The heads from h on that share kvHead and lie in this chunk.
                    let heads = min((kvHead + 1) * c.groupSize - h, items.upperBound - item)
                    let groups = Int32(heads)
                    let q = queries + t * c.queryDim + h * hd
                    let o = out + t * c.queryDim + h * hd
                    let contextKeys = firstIndex + t + 1
                    let keyCount = memoryTokens + contextKeys

                    // Scores, one row of maxKeys per head: memory first, then context.
                    var k = 0
                    for r in reads {
                        m3_attention_group_scores(q, groups, r.keys + kvHead * r.headStride, r.type, r.tokens, dim,
                                                  scale, r.bias, scores + k, Int32(maxKeys))
                        k += Int(r.tokens)
                    }
                    let cacheKeys = cache.keys + cache.offset(layer: layer, head: kvHead, token: 0)
                    m3_attention_group_scores(q, groups, cacheKeys, f32, Int32(contextKeys), dim, scale, 0,
                                              scores + k, Int32(maxKeys))
                    for g in 0 ..< heads {
                        let row = scores + g * maxKeys
                        softmax(row, count: keyCount)
                        if let (probe, tokenOffset) = probe, probe.records(layer: layer, head: h + g),
                           let slot = probe.slot(layer: layer, head: h + g, token: tokenOffset + t) {
                            recordMass(row, memory: memory, layer: layer, probe: probe, slot: slot)
                        }
                    }

                    // Weighted sums of values, same order.
                    o.initialize(repeating: 0, count: heads * hd)
                    k = 0
                    for r in reads {
                        m3_attention_group_accumulate(scores + k, Int32(maxKeys), groups, r.values + kvHead * r.headStride,
                                                      r.type, r.tokens, dim, o)
                        k += Int(r.tokens)
                    }
                    let cacheValues = cache.values + cache.offset(layer: layer, head: kvHead, token: 0)
                    m3_attention_group_accumulate(scores + k, Int32(maxKeys), groups, cacheValues, f32,
                                                  Int32(contextKeys), dim, o)
                    item += heads
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
