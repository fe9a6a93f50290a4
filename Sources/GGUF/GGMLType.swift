/// Tensor element types of GGML that this engine reads. Raw values are GGML's type ids.
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q5_0 = 6
    case q5_1 = 7
    case q8_0 = 8
    case q2_K = 10
    case q3_K = 11
    case q4_K = 12
    case q5_K = 13
    case q6_K = 14
    case iq4_nl = 20
    case bf16 = 30

    /// Elements per quantization block (1 for plain floats).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: return 256
        }
    }

    /// Bytes per block.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .q4_0: return 18   // fp16 scale + 16 bytes of nibbles
        case .q4_1: return 20   // fp16 scale + fp16 min + 16 bytes of nibbles
        case .q5_0: return 22   // fp16 scale + 4 bytes of fifth bits + 16 bytes of nibbles
        case .q5_1: return 24   // fp16 scale + fp16 min + 4 bytes of fifth bits + 16 bytes of nibbles
        case .q8_0: return 34   // fp16 scale + 32 int8
        case .iq4_nl: return 18 // fp16 scale + 16 bytes of nibbles indexing a fixed non-linear table
        case .q2_K: return 84   // 16 bytes of 4-bit scales/mins, 64 bytes of 2-bit codes, fp16 d, fp16 dmin
        case .q3_K: return 110  // 32 bytes of high bits, 64 bytes of 2-bit codes, 12 bytes of 6-bit scales, fp16 d
        case .q4_K: return 144  // fp16 d, fp16 dmin, 12 bytes of 6-bit scales/mins, 128 bytes of nibbles
        case .q5_K: return 176  // as Q4_K plus 32 bytes of high bits
        case .q6_K: return 210  // 128 low nibbles, 64 high 2-bits, 16 int8 scales, fp16 d
        }
    }

    public var name: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q5_0: return "Q5_0"
        case .q5_1: return "Q5_1"
        case .q8_0: return "Q8_0"
        case .q2_K: return "Q2_K"
        case .q3_K: return "Q3_K"
        case .iq4_nl: return "IQ4_NL"
        case .q4_K: return "Q4_K"
        case .q5_K: return "Q5_K"
        case .q6_K: return "Q6_K"
        case .bf16: return "BF16"
        }
    }

    /// Bytes needed for `count` elements, or nil when `count` is not a whole number of blocks or
    /// the size does not fit in an `Int`.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }
}
