/// Extra key/values that attention reads before the context: the seam between explicit memory
/// and the model. Keys are stored after RoPE, so every kept token keeps the position it was
/// encoded at; context tokens see every memory token (memory precedes the context).
public struct MemorySegment: Sendable, Equatable {
    /// Model layers this segment has key/values for, ascending; other layers see no memory.
    public let layers: [Int]
    public let kvHeadCount: Int
    public let headDim: Int
    /// Tokens per KV head (every head of every layer keeps the same count).
    public let tokenCount: Int
    /// [layers.count][kvHeadCount][tokenCount][headDim], after RoPE.
    public var keys: [Float]
    /// Same layout as `keys`.
    public var values: [Float]
    /// Added to the attention logits of this segment's keys (a way to favour or damp one memory).
    public var logitBias: Float
    /// For a layer index, the slot in `keys`/`values`, or nil when the segment skips that layer.
    let slotOfLayer: [Int?]

    public init(layers: [Int], kvHeadCount: Int, headDim: Int, tokenCount: Int,
                keys: [Float], values: [Float], logitBias: Float = 0) {
        precondition(keys.count == layers.count * kvHeadCount * tokenCount * headDim, "keys do not match the shape")
        precondition(values.count == keys.count, "values do not match the shape")
        self.layers = layers
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.tokenCount = tokenCount
        self.keys = keys
        self.values = values
        self.logitBias = logitBias
        var slots = [Int?](repeating: nil, count: (layers.max() ?? -1) + 1)
        for (slot, layer) in layers.enumerated() { slots[layer] = slot }
        self.slotOfLayer = slots
    }

    @inline(__always)
    func slot(ofLayer layer: Int) -> Int? {
        layer < slotOfLayer.count ? slotOfLayer[layer] : nil
    }

    /// Offset of (slot, head, token 0) in `keys`/`values`.
    @inline(__always)
    func offset(slot: Int, head: Int) -> Int {
        (slot * kvHeadCount + head) * tokenCount * headDim
    }

    func validate(for config: LlamaConfig) throws {
        guard kvHeadCount == config.kvHeadCount, headDim == config.headDim else {
            throw ModelError.memoryShapeMismatch(
                "segment has \(kvHeadCount) KV heads of \(headDim) dims, the model \(config.kvHeadCount) of \(config.headDim)")
        }
        guard layers.allSatisfy({ $0 >= 0 && $0 < config.layerCount }) else {
            throw ModelError.memoryShapeMismatch("segment names layers outside 0..<\(config.layerCount)")
        }
    }
}
