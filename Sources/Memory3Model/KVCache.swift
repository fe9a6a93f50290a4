import CKernels

/// The attention key/values of a context, owned by the caller (one per conversation or request).
/// Layout [layer][kvHead][capacity][headDim] keeps one head's keys contiguous for attention.
/// Stored as fp16, as llama.cpp's default cache: half the memory per token (twice the slots in a
/// KV budget), half the bytes attention reads, and the rounding the reference implementation
/// applies (agreement with it on Gemma 3 rose with it).
public final class KVCache: @unchecked Sendable {
    public let capacity: Int
    public let layerCount: Int
    public let kvHeadCount: Int
    public let headDim: Int
    /// Tokens held.
    public private(set) var count: Int = 0
    /// RoPE position of context token 0. Explicit memory sits in positions below it, so the context
    /// starts after the memory window.
    public let positionOffset: Int

    /// fp16 bits.
    let keys: UnsafeMutablePointer<UInt16>
    let values: UnsafeMutablePointer<UInt16>

    public init(config: DecoderConfig, capacity: Int, positionOffset: Int = 0) {
        precondition(capacity > 0 && positionOffset >= 0)
        self.capacity = capacity
        self.layerCount = config.layerCount
        self.kvHeadCount = config.kvHeadCount
        self.headDim = config.headDim
        self.positionOffset = positionOffset
        let size = config.layerCount * config.kvHeadCount * capacity * config.headDim
        keys = .allocate(capacity: size)
        values = .allocate(capacity: size)
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    /// Bytes held by the key/value storage.
    public var byteCount: Int { 2 * layerCount * kvHeadCount * capacity * headDim * MemoryLayout<UInt16>.size }

    /// Writes one token's key and value vectors of one head (floats, rounded to fp16).
    @inline(__always)
    func store(layer: Int, head: Int, token: Int, key: UnsafePointer<Float>, value: UnsafePointer<Float>) {
        let o = offset(layer: layer, head: head, token: token)
        m3_fp32_to_fp16(key, keys + o, headDim)
        m3_fp32_to_fp16(value, values + o, headDim)
    }

    @inline(__always)
    func offset(layer: Int, head: Int, token: Int) -> Int {
        ((layer * kvHeadCount + head) * capacity + token) * headDim
    }

    /// Forgets tokens from `newCount` on (to rewind or reuse a shared prefix).
    public func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count)
        count = newCount
    }

    func advance(by n: Int) { count += n }

    /// Copies the first `tokens` context tokens of `other` (same model shape and position offset)
    /// into this cache, which then holds exactly them: a cached prompt prefix moved to a cache
    /// with more room.
    public func copyPrefix(of other: KVCache, tokens: Int) {
        precondition(tokens <= other.count && tokens <= capacity)
        precondition(layerCount == other.layerCount && kvHeadCount == other.kvHeadCount && headDim == other.headDim
                     && positionOffset == other.positionOffset)
        for layer in 0 ..< layerCount {
            for head in 0 ..< kvHeadCount {
                let from = other.offset(layer: layer, head: head, token: 0)
                let to = offset(layer: layer, head: head, token: 0)
                (keys + to).update(from: other.keys + from, count: tokens * headDim)
                (values + to).update(from: other.values + from, count: tokens * headDim)
            }
        }
        count = tokens
    }

    /// Copies the key/values of context tokens `range` as a memory segment (keys keep their RoPE
    /// positions `positionOffset + index`).
    public func segment(tokens range: Range<Int>, layers: [Int]? = nil) -> MemorySegment {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        let chosen = layers ?? Array(0 ..< layerCount)
        let n = range.count * headDim
        let total = chosen.count * kvHeadCount * n
        var k = [Float](repeating: 0, count: total)
        var v = [Float](repeating: 0, count: total)
        k.withUnsafeMutableBufferPointer { kb in
            v.withUnsafeMutableBufferPointer { vb in
                var at = 0
                for layer in chosen {
                    for head in 0 ..< kvHeadCount {
                        let o = offset(layer: layer, head: head, token: range.lowerBound)
                        m3_fp16_to_fp32_row(keys + o, kb.baseAddress! + at, n)
                        m3_fp16_to_fp32_row(values + o, vb.baseAddress! + at, n)
                        at += n
                    }
                }
            }
        }
        return MemorySegment(layers: chosen, kvHeadCount: kvHeadCount, headDim: headDim,
                             tokenCount: range.count, keys: k, values: v)
    }
}
