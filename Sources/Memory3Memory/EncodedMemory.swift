import Memory3Model

/// The explicit memory of one reference: the key/values of the tokens a profile kept, per layer
/// and KV head. Keys are stored after RoPE at their in-reference positions, so the reader hands
/// them to attention unchanged.
///
/// Every head keeps the same number of tokens, and the first `prefixTokenCount` of them are the
/// reference prefix (the attention sink), in every head. The reader keeps one memory's prefix as
/// the shared sink and drops the others' (`segment(dropPrefix: true)`).
public struct EncodedMemory: Sendable, Equatable {
    /// Model layers the memory covers, ascending.
    public let layers: [Int]
    public let kvHeadCount: Int
    public let headDim: Int
    /// Tokens kept per KV head, prefix included.
    public let tokenCount: Int
    /// How many of the kept tokens, at the start of every head, are the reference prefix.
    public let prefixTokenCount: Int
    /// [layers][kvHeads][tokens]: the in-reference RoPE position of each kept token.
    public var positions: [Int32]
    /// [layers][kvHeads][tokens][headDim], after RoPE.
    public var keys: [Float]
    /// Same layout as `keys`.
    public var values: [Float]

    public init(layers: [Int], kvHeadCount: Int, headDim: Int, tokenCount: Int, prefixTokenCount: Int,
                positions: [Int32], keys: [Float], values: [Float]) {
        precondition(prefixTokenCount >= 0 && prefixTokenCount <= tokenCount, "prefix longer than the memory")
        precondition(positions.count == layers.count * kvHeadCount * tokenCount, "positions do not match the shape")
        precondition(keys.count == positions.count * headDim, "keys do not match the shape")
        precondition(values.count == keys.count, "values do not match the shape")
        self.layers = layers
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.tokenCount = tokenCount
        self.prefixTokenCount = prefixTokenCount
        self.positions = positions
        self.keys = keys
        self.values = values
    }

    /// Kept tokens after the prefix, per head.
    public var bodyTokenCount: Int { tokenCount - prefixTokenCount }

    /// (layer slot, head) rows, each `tokenCount` tokens long.
    public var rowCount: Int { layers.count * kvHeadCount }

    /// The memory as attention reads it. With `dropPrefix`, every head loses its prefix tokens
    /// (another memory's prefix serves as the shared sink). Attention reads int8 by default (see
    /// `MemorySegment.Precision`), the kept prefix's keys scaled apart; the copy made here is the
    /// only one per read.
    public func segment(logitBias: Float = 0, dropPrefix: Bool = false,
                        precision: MemorySegment.Precision = .int8) -> MemorySegment {
        MemorySegment(layers: layers, kvHeadCount: kvHeadCount, headDim: headDim, rowTokens: tokenCount,
                      keeping: (dropPrefix ? prefixTokenCount : 0) ..< tokenCount, keys: keys, values: values,
                      logitBias: logitBias, precision: precision, keyLeadTokens: dropPrefix ? 0 : prefixTokenCount)
    }
}
