import CKernels
import Foundation

/// Grouped-query attention of new tokens over `[memory segments ; causal context]`, for a batch
/// of sequences: each sequence reads only its own memory and its own cache.
enum Attention {
    /// One sequence's share of a batched attention call (the same for every layer of a step).
    struct Sequence {
        /// Its first row in the batch's queries and output.
        let row: Int
        let tokens: Int
        /// Cache index of its first new token (its keys are in the cache already).
        let firstIndex: Int
        let cache: KVCache
        let memory: [MemorySegment]
        let probe: (AttentionProbe, tokenOffset: Int)?
    }

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

    /// Where one sequence's memory reads are, for one layer.
    private struct SequenceReads {
        var first = 0
        var count = 0
        var memoryTokens = 0
        /// Its first work item (token-major, then query head) in the batch.
        var firstItem = 0
    }

    /// For each new token t and query head h: softmax over the memory keys (plus each segment's
    /// bias) and the context keys up to and including t, then the weighted sum of values. The
    /// query heads that share a KV head are run together, so each key/value row is read once for
    /// all of them.
    ///
    /// `window`: a sliding-window layer's span; a token sees the context keys less than `window`
    /// positions behind it (memory segments are not context: every layer sees them whole).
    /// `scale`: multiplies the scores (default 1/sqrt(headDim)). `halfProbabilities`: round the
    /// probabilities to fp16 before weighting the values, as llama.cpp's fp16 value multiply does
    /// (measured against llama-cpp-python: SmolLM2 top-1 agreement 95.4% -> 97.0% and perplexity
    /// exact with it; Gemma 3 94.7% without it, 94.2% with it, so Gemma leaves it off).
    static func run(layer: Int, queries: UnsafePointer<Float>, sequences: [Sequence], config c: DecoderConfig,
                    into out: UnsafeMutablePointer<Float>, threads: Int, window: Int? = nil, scale: Float? = nil,
                    halfProbabilities: Bool = true) {
        let segmentCount = sequences.reduce(0) { $0 + $1.memory.count }
        withUnsafeTemporaryAllocation(of: MemoryRead.self, capacity: max(segmentCount, 1)) { readBuffer in
            withUnsafeTemporaryAllocation(of: SequenceReads.self, capacity: sequences.count + 1) { planBuffer in
                let reads = readBuffer.baseAddress!, plans = planBuffer.baseAddress!
                var readCount = 0, items = 0, maxKeys = 0
                for (i, s) in sequences.enumerated() {
                    var plan = SequenceReads(first: readCount, count: 0, memoryTokens: 0, firstItem: items)
                    for m in s.memory {
                        guard let slot = m.slot(ofLayer: layer) else { continue }
                        let bytes = m.storage.elementBytes
                        let first = m.offset(slot: slot, head: 0) * bytes
                        (reads + readCount).initialize(to: MemoryRead(
                            keys: UnsafeRawPointer(m.storage.keys + first), values: UnsafeRawPointer(m.storage.values + first),
                            headStride: m.tokenCount * m.headDim * bytes, type: m.storage.kernelType,
                            tokens: Int32(m.tokenCount), bias: m.logitBias))
                        readCount += 1
                        plan.count += 1
                        plan.memoryTokens += m.tokenCount
                    }
                    (plans + i).initialize(to: plan)
                    items += s.tokens * c.headCount
                    maxKeys = max(maxKeys, plan.memoryTokens + s.firstIndex + s.tokens)
                }
                (plans + sequences.count).initialize(to: SequenceReads(firstItem: items))
                run(layer: layer, queries: queries, sequences: sequences, reads: reads, plans: plans, items: items,
                    maxKeys: maxKeys, config: c, into: out, threads: threads, window: window,
                    scale: scale ?? 1 / Float(c.headDim).squareRoot(), halfProbabilities: halfProbabilities)
                planBuffer.baseAddress!.deinitialize(count: sequences.count + 1)
                readBuffer.baseAddress!.deinitialize(count: readCount)
            }
        }
        withExtendedLifetime(sequences) {}
    }

    private static func run(layer: Int, queries: UnsafePointer<Float>, sequences: [Sequence],
                            reads: UnsafePointer<MemoryRead>, plans: UnsafePointer<SequenceReads>, items: Int,
                            maxKeys: Int, config c: DecoderConfig, into out: UnsafeMutablePointer<Float>, threads: Int,
                            window: Int?, scale: Float, halfProbabilities: Bool) {
        let hd = c.headDim
        let dim = Int32(hd)
        let cacheType = Int32(M3_KV_F16)
        let stride = Int32(maxKeys)

        // Chunks of at least two groups of heads: a chunk boundary inside a group costs one more
        // read of that group's key/values. Decode (one token) gets one chunk per thread.
        Parallel.forChunks(of: items, threads: threads, minimumChunk: 2 * c.groupSize) { chunk in
            withUnsafeTemporaryAllocation(of: Float.self, capacity: c.groupSize * maxKeys) { buffer in
                let scores = buffer.baseAddress!
                var sequence = 0
                while plans[sequence + 1].firstItem <= chunk.lowerBound { sequence += 1 }
                var item = chunk.lowerBound
                while item < chunk.upperBound {
                    while plans[sequence + 1].firstItem <= item { sequence += 1 }
                    let s = sequences[sequence], plan = plans[sequence]
                    let local = item - plan.firstItem
                    let t = local / c.headCount, h = local % c.headCount
                    let kvHead = h / c.groupSize
                    // The heads from h on that share kvHead and lie in this chunk.
                    let heads = min((kvHead + 1) * c.groupSize - h, chunk.upperBound - item)
                    let groups = Int32(heads)
                    let row = s.row + t
                    let q = queries + row * c.queryDim + h * hd
                    let o = out + row * c.queryDim + h * hd
                    // Context keys first..<end: all before and at this token, or the window's.
                    let end = s.firstIndex + t + 1
                    let first = window.map { max(0, end - $0) } ?? 0
                    let contextKeys = end - first
                    let keyCount = plan.memoryTokens + contextKeys

                    // Scores, one row of maxKeys per head: memory first, then context.
                    var k = 0
                    for r in UnsafeBufferPointer(start: reads + plan.first, count: plan.count) {
                        m3_attention_group_scores(q, groups, r.keys + kvHead * r.headStride, r.type, r.tokens, dim,
                                                  scale, r.bias, scores + k, stride)
                        k += Int(r.tokens)
                    }
                    let cacheKeys = s.cache.keys + s.cache.offset(layer: layer, head: kvHead, token: first)
                    m3_attention_group_scores(q, groups, cacheKeys, cacheType, Int32(contextKeys), dim, scale, 0, scores + k, stride)
                    for g in 0 ..< heads {
                        let probabilities = scores + g * maxKeys
                        softmax(probabilities, count: keyCount)
                        // llama.cpp multiplies the fp16 value cache by the probabilities in fp16.
                        if halfProbabilities { DecoderBlocks.roundToHalf(probabilities, count: keyCount) }
                        if let (probe, tokenOffset) = s.probe, probe.records(layer: layer, head: h + g),
                           let slot = probe.slot(layer: layer, head: h + g, token: tokenOffset + t) {
                            recordMass(probabilities, memory: s.memory, layer: layer, probe: probe, slot: slot)
                        }
                    }

                    // Weighted sums of values, same order.
                    o.initialize(repeating: 0, count: heads * hd)
                    k = 0
                    for r in UnsafeBufferPointer(start: reads + plan.first, count: plan.count) {
                        m3_attention_group_accumulate(scores + k, stride, groups, r.values + kvHead * r.headStride,
                                                      r.type, r.tokens, dim, o)
                        k += Int(r.tokens)
                    }
                    let cacheValues = s.cache.values + s.cache.offset(layer: layer, head: kvHead, token: first)
                    m3_attention_group_accumulate(scores + k, stride, groups, cacheValues, cacheType, Int32(contextKeys), dim, o)
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
