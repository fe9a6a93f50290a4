import Memory3Model
import Synchronization

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
    public var positions: [Int32] { didSet { reads = ReadCache() } }
    /// [layers][kvHeads][tokens][headDim], after RoPE.
    public var keys: [Float] { didSet { reads = ReadCache() } }
    /// Same layout as `keys`.
    public var values: [Float] { didSet { reads = ReadCache() } }
    /// The int8 segments attention reads (whole and without the prefix), made on first use and
    /// shared by every copy of this memory (the memory cache hands out copies): a swap re-reading a
    /// cached memory does not quantize it again. Changing the key/values starts a new one.
    private var reads = ReadCache()

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
        let make = {
            MemorySegment(layers: layers, kvHeadCount: kvHeadCount, headDim: headDim, rowTokens: tokenCount,
                          keeping: (dropPrefix ? prefixTokenCount : 0) ..< tokenCount, keys: keys, values: values,
                          logitBias: 0, precision: precision, keyLeadTokens: dropPrefix ? 0 : prefixTokenCount)
        }
        var segment = precision == .int8 ? reads.segment(dropPrefix: dropPrefix, make: make) : make()
        segment.logitBias = logitBias
        return segment
    }

    /// Bytes the int8 segments of this memory take once made (both of them: codes, then per row
    /// two groups of key scales, and a value scale and a key code sum per token).
    public var int8SegmentBytes: Int { 2 * (keys.count + values.count + rowCount * 4 * (2 * headDim + 2 * tokenCount)) }

    public static func == (a: EncodedMemory, b: EncodedMemory) -> Bool {
        a.layers == b.layers && a.kvHeadCount == b.kvHeadCount && a.headDim == b.headDim && a.tokenCount == b.tokenCount
            && a.prefixTokenCount == b.prefixTokenCount && a.positions == b.positions && a.keys == b.keys && a.values == b.values
    }
}

/// A memory's int8 segments, made at most once each (by whichever thread asks first).
private final class ReadCache: Sendable {
    private let made = Mutex<[Bool: MemorySegment]>([:])

    func segment(dropPrefix: Bool, make: () -> MemorySegment) -> MemorySegment {
        if let segment = made.withLock({ $0[dropPrefix] }) { return segment }
        let segment = make()
        return made.withLock { made in
            if let first = made[dropPrefix] { return first }
            made[dropPrefix] = segment
            return segment
        }
    }
}
