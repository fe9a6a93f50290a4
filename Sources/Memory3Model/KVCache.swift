import CKernels

/// The attention key/values of a context, owned by the caller (one per conversation or request).
/// Layout [layer][kvHead][capacity][headDim] keeps one head's keys contiguous for attention.
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

    let keys: UnsafeMutablePointer<Float>
    let values: UnsafeMutablePointer<Float>
    /// Per-call buffers of the forward pass, grown on demand and reused.
    let scratch = ForwardScratch()

    public init(config: LlamaConfig, capacity: Int, positionOffset: Int = 0) {
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
    public var byteCount: Int { 2 * layerCount * kvHeadCount * capacity * headDim * MemoryLayout<Float>.size }

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

    /// Copies the key/values of context tokens `range` as a memory segment (keys keep their RoPE
    /// positions `positionOffset + index`).
    public func segment(tokens range: Range<Int>, layers: [Int]? = nil) -> MemorySegment {
        precondition(range.lowerBound >= 0 && range.upperBound <= count)
        let chosen = layers ?? Array(0 ..< layerCount)
        var k: [Float] = []
        var v: [Float] = []
        let n = range.count * headDim
        k.reserveCapacity(chosen.count * kvHeadCount * n)
        v.reserveCapacity(chosen.count * kvHeadCount * n)
        for layer in chosen {
            for head in 0 ..< kvHeadCount {
                let o = offset(layer: layer, head: head, token: range.lowerBound)
                k.append(contentsOf: UnsafeBufferPointer(start: keys + o, count: n))
                v.append(contentsOf: UnsafeBufferPointer(start: values + o, count: n))
            }
        }
        return MemorySegment(layers: chosen, kvHeadCount: kvHeadCount, headDim: headDim,
                             tokenCount: range.count, keys: k, values: v)
    }
}

/// Work buffers of one forward call, sized for the batch; reused across calls so that decode
/// allocates nothing once warm.
final class ForwardScratch {
    private(set) var tokens = 0
    private(set) var x = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var normed = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var q = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var k = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var v = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var attention = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var gate = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    private(set) var up = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    /// 8-bit activations for the quantized matrix kernels (widest input: the FFN).
    private(set) var blocks = ActivationBuffers(capacity: 1)

    func reserve(tokens n: Int, config c: LlamaConfig) {
        guard n > tokens else { return }
        release()
        tokens = n
        x = .allocate(capacity: n * c.embeddingLength)
        normed = .allocate(capacity: n * c.embeddingLength)
        q = .allocate(capacity: n * c.queryDim)
        attention = .allocate(capacity: n * c.queryDim)
        k = .allocate(capacity: n * c.kvDim)
        v = .allocate(capacity: n * c.kvDim)
        gate = .allocate(capacity: n * c.feedForwardLength)
        up = .allocate(capacity: n * c.feedForwardLength)
        blocks = ActivationBuffers(capacity: n * (max(c.feedForwardLength, c.embeddingLength, c.queryDim) + 31) / 32)
    }

    private func release() {
        for p in [x, normed, q, attention, k, v, gate, up] { p.deallocate() }
    }

    deinit { release() }
}
