/// How a memory's key/values are stored on disk (before zlib). Keys are quantized per channel
/// across tokens and values per token across dimensions, the layout that KV quantization works
/// best with (keys have outlier channels, values do not).
public enum MemoryCodec: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// Half precision: exact to fp16 rounding. 2 bytes a value.
    case fp16
    /// Symmetric 8-bit with one fp16 scale per key channel (over the head's tokens) and per value
    /// token (over its dimensions). Measured on SmolLM2 to cost no accuracy; the default of unmeasured model families.
    case int8
    /// Asymmetric 4-bit in groups of 32 (keys: 32 tokens of a channel; values: 32 dimensions of a
    /// token) with an fp16 scale and an fp16 zero point (the group minimum), as KIVI does. Costs
    /// ~6 points of exact match on SmolLM2.
    case int4
    /// The int4 layout at 3 bits a code (a bit stream), except that the reference prefix (the
    /// attention sink) is a key group of its own; ~4 bits an element with the group parameters.
    case int3
    /// The int3 layout at 2 bits a code; ~3 bits an element with the group parameters.
    case int2
    /// Rotated 3-bit: every key and value vector is rotated (random signs, then Walsh-Hadamard:
    /// `HadamardRotation`) so that no dimension is an outlier, then each group of 64 (keys: 64
    /// tokens of a channel, after the prefix's own group; values: 64 dimensions of a token) is
    /// coded with the 8 Lloyd-Max levels of a Gaussian around the group's mean, scaled by its
    /// standard deviation (both fp16). ~3.5 bits an element; on our development set it reads as
    /// well as int4 at three quarters of int4's bytes (docs/memory-quality.md).
    case int3r
    /// Rotated 2-bit: the int2 layout (uniform codes, groups of 32) on rotated vectors. Same bytes
    /// as int2, far closer to int3 in quality.
    case int2r

    /// The codec of a model family never measured (and of code that names no model); a known
    /// family's memories default to `modelDefault(for:)`.
    public static let `default` = MemoryCodec.int8

    /// Elements per group of the low-bit codecs (int4, int3, int2, int2r; int3r's are 64).
    public static let lowBitGroupSize = 32

    /// Elements per group of this low-bit codec.
    var groupSize: Int { self == .int3r ? 64 : Self.lowBitGroupSize }

    /// Whether the prefix tokens' keys form a group of their own (all but int4, whose blobs were
    /// written before this and keep their layout).
    var prefixKeyGroup: Bool { lowBits != nil && self != .int4 }

    /// Whether key and value vectors are rotated before coding (and rotated back after).
    var rotated: Bool { self == .int3r || self == .int2r }

    /// How a group's codes map to values: evenly from its minimum, or Gaussian levels.
    var levels: KVQuantization.Levels { self == .int3r ? .gaussian : .uniform }

    /// Whether codes are narrower than int8 (int4, int3, int2, int3r, int2r): what int8-key layers apply to.
    public var isLowBit: Bool { lowBits != nil }

    /// Bits per code of a low-bit codec (nil for fp16 and int8).
    var lowBits: Int? {
        switch self {
        case .fp16, .int8: return nil
        case .int4: return 4
        case .int3, .int3r: return 3
        case .int2, .int2r: return 2
        }
    }

    public var name: String { rawValue }
    public var description: String { rawValue }

    /// The codec's id in a blob header.
    var id: UInt8 {
        switch self {
        case .fp16: return 1
        case .int8: return 2
        case .int4: return 3
        case .int3: return 4
        case .int2: return 5
        case .int3r: return 6
        case .int2r: return 7
        }
    }

    init?(id: UInt8) {
        guard let codec = Self.allCases.first(where: { $0.id == id }) else { return nil }
        self = codec
    }

    /// Parses a codec name ("fp16", "int8", "int4", "int3", "int2", "int3r", "int2r").
    public init(parsing text: String) throws {
        guard let codec = MemoryCodec(rawValue: text.lowercased()) else {
            throw MemoryCodecError.unknownCodec(text)
        }
        self = codec
    }

    /// Bytes of the key section or of the value section for `rows` (layer, head) rows of
    /// `tokens` tokens of `headDim` dimensions.
    func sectionSize(rows: Int, tokens: Int, headDim: Int, keys: Bool, prefix: Int = 0) -> Int {
        let elements = rows * tokens * headDim
        switch self {
        case .fp16:
            return 2 * elements
        case .int8:
            // One fp16 scale per channel (keys) or per token (values), then a byte per value.
            return 2 * rows * (keys ? headDim : tokens) + elements
        case .int4, .int3, .int2, .int3r, .int2r:
            let g = groupSize
            let lead = prefixKeyGroup ? prefix : 0
            let groups = keys ? rows * headDim * KVQuantization.keyGroups(tokens: tokens, lead: lead, size: g) : rows * tokens * ((headDim + g - 1) / g)
            return 4 * groups + KVQuantization.lowBitCodeBytes(elements, bits: lowBits!)
        }
    }

    /// Bytes of an uncompressed payload: positions (Int32), then keys, then values, then the
    /// int8 keys of `int8KeyRows` rows (a low-bit memory's int8-key layers).
    func payloadSize(rows: Int, tokens: Int, headDim: Int, prefix: Int, int8KeyRows: Int = 0) -> Int {
        4 * rows * tokens + sectionSize(rows: rows, tokens: tokens, headDim: headDim, keys: true, prefix: prefix)
            + sectionSize(rows: rows, tokens: tokens, headDim: headDim, keys: false)
            + MemoryCodec.int8.sectionSize(rows: int8KeyRows, tokens: tokens, headDim: headDim, keys: true)
    }
}
