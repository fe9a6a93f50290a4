import CKernels

/// Which family of C kernels runs the quantized products (the best the CPU supports, unless
/// limited: benchmarks compare the families, tests run each).
public enum ComputeKernels: String, CaseIterable, Sendable {
    case scalar
    case avx2
    case vnni
    /// AVX-512 VNNI: weights packed at load in panels of 16 rows (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0).
    case avx512

    var level: Int32 {
        switch self {
        case .scalar: return Int32(M3_LEVEL_SCALAR)
        case .avx2: return Int32(M3_LEVEL_AVX2)
        case .vnni: return Int32(M3_LEVEL_VNNI)
        case .avx512: return Int32(M3_LEVEL_AVX512)
        }
    }

    /// The family in use now.
    public static var active: ComputeKernels {
        switch m3_kernels_level() {
        case Int32(M3_LEVEL_AVX512): return .avx512
        case Int32(M3_LEVEL_VNNI): return .vnni
        case Int32(M3_LEVEL_AVX2): return .avx2
        default: return .scalar
        }
    }

    /// Uses no family above `family` from now on (process-wide).
    public static func limit(to family: ComputeKernels) {
        m3_kernels_limit_level(family.level)
    }
}
