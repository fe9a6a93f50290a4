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
        /// int8 reads: the first KV head's key scales (one per channel), key code sums and value
        /// scales (one per token each), and the elements from one KV head's to the next; nil for
        /// float reads.
        var keyScales: UnsafePointer<Float>? = nil
        var keySums: UnsafePointer<Int32>? = nil
        var valueScales: UnsafePointer<Float>? = nil
        var keyScaleHeadStride = 0
        var tokenHeadStride = 0
    }

    /// The reads of one segment at `slot`: one, or for int8 keys with a lead group (the reference
    /// prefix) two, each with its own key scales.
    private static func reads(of m: MemorySegment, slot: Int, into out: UnsafeMutablePointer<MemoryRead>) -> Int {
        let storage = m.storage, bytes = storage.elementBytes
        let first = m.offset(slot: slot, head: 0) * bytes
        let headStride = m.tokenCount * m.headDim * bytes
        let keys = UnsafeRawPointer(storage.keys + first), values = UnsafeRawPointer(storage.values + first)
        guard storage.precision == .int8 else {
            out.initialize(to: MemoryRead(keys: keys, values: values, headStride: headStride, type: storage.kernelType,
                                          tokens: Int32(m.tokenCount), bias: m.logitBias))
            return 1
        }
        let row = slot * m.kvHeadCount, lead = storage.keyLeadTokens
        var count = 0
        // Key scale group 0 is the lead's, 1 the rest's (no array of the two: this runs per layer and step).
        func read(group: Int, _ tokens: Range<Int>) {
            guard !tokens.isEmpty else { return }
            let offset = tokens.lowerBound * m.headDim
            (out + count).initialize(to: MemoryRead(
                keys: keys + offset, values: values + offset, headStride: headStride, type: storage.kernelType,
                tokens: Int32(tokens.count), bias: m.logitBias,
                keyScales: UnsafePointer(storage.keyScales + (row * 2 + group) * m.headDim),
                keySums: UnsafePointer(storage.keySums + row * m.tokenCount + tokens.lowerBound),
                valueScales: UnsafePointer(storage.valueScales + row * m.tokenCount + tokens.lowerBound),
                keyScaleHeadStride: 2 * m.headDim, tokenHeadStride: m.tokenCount))
            count += 1
        }
        read(group: 0, 0 ..< lead)
        read(group: 1, lead ..< m.tokenCount)
        return count
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
        // An int8 segment may take two reads.
        let readCapacity = 2 * sequences.reduce(0) { $0 + $1.memory.count }
        withUnsafeTemporaryAllocation(of: MemoryRead.self, capacity: max(readCapacity, 1)) { readBuffer in
            withUnsafeTemporaryAllocation(of: SequenceReads.self, capacity: sequences.count + 1) { planBuffer in
                let reads = readBuffer.baseAddress!, plans = planBuffer.baseAddress!
                var readCount = 0, items = 0, maxKeys = 0
                for (i, s) in sequences.enumerated() {
                    var plan = SequenceReads(first: readCount, count: 0, memoryTokens: 0, firstItem: items)
                    for m in s.memory {
                        guard let slot = m.slot(ofLayer: layer) else { continue }
                        let added = Self.reads(of: m, slot: slot, into: reads + readCount)
                        readCount += added
                        plan.count += added
                        plan.memoryTokens += m.tokenCount
                    }
                    (plans + i).initialize(to: plan)
                    items += s.tokens * c.headCount
                    maxKeys = max(maxKeys, plan.memoryTokens + s.firstIndex + s.tokens)
                }
                (plans + sequences.count).initialize(to: SequenceReads(firstItem: items))
                // An int8 read's scales and code sums sit apart from its codes, and each is needed
                // first thing by its kernel: asked for now, they arrive while the loop starts.
                // (Measured only by `perf annotate`: the VNNI kernel's samples on its first use of
                // the channel scales went from 19.8% to 14.6%; on decode speed, within the noise.)
                for r in UnsafeBufferPointer(start: reads, count: readCount) {
                    guard let keyScales = r.keyScales, let keySums = r.keySums, let valueScales = r.valueScales else { continue }
                    m3_prefetch(keyScales, 4 * c.kvHeadCount * r.keyScaleHeadStride)
                    m3_prefetch(keySums, 4 * c.kvHeadCount * r.tokenHeadStride)
                    m3_prefetch(valueScales, 4 * c.kvHeadCount * r.tokenHeadStride)
                }
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
                        let keys = r.keys + kvHead * r.headStride
                        if let keyScales = r.keyScales, let keySums = r.keySums {
                            m3_attention_group_scores_i8(q, groups, keys.assumingMemoryBound(to: Int8.self),
                                                         keySums + kvHead * r.tokenHeadStride,
                                                         keyScales + kvHead * r.keyScaleHeadStride, r.tokens, dim,
                                                         scale, r.bias, scores + k, stride)
                        } else {
                            m3_attention_group_scores(q, groups, keys, r.type, r.tokens, dim, scale, r.bias, scores + k, stride)
                        }
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
                        let values = r.values + kvHead * r.headStride
                        if let valueScales = r.valueScales {
                            m3_attention_group_accumulate_i8(scores + k, stride, groups, values.assumingMemoryBound(to: Int8.self),
                                                             valueScales + kvHead * r.tokenHeadStride, r.tokens, dim, o)
                        } else {
                            m3_attention_group_accumulate(scores + k, stride, groups, values, r.type, r.tokens, dim, o)
                        }
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
