import CKernels
import GGUF
import XCTest

/// SplitMix64: a small seeded generator, so every test draws the same numbers on every run.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The kernel sets the dispatcher chooses between: the best the CPU runs (AVX-512, AVX-VNNI or AVX2 on
/// x86-64 machines that have them), AVX2 without VNNI, and the portable scalar fallback.
enum KernelPath: CaseIterable, CustomStringConvertible {
    case best
    case avx2
    case scalar

    func select() {
        switch self {
        case .best: m3_kernels_limit_level(Int32(M3_LEVEL_AVX512))
        case .avx2: m3_kernels_limit_level(Int32(M3_LEVEL_AVX2))
        case .scalar: m3_kernels_limit_level(Int32(M3_LEVEL_SCALAR))
        }
    }

    var description: String {
        switch self {
        case .best: return "best (level \(m3_kernels_level()))"
        case .avx2: return "avx2 (level \(m3_kernels_level()))"
        case .scalar: return "scalar"
        }
    }
}

/// Base for kernel tests: runs a body on each path and always leaves the dispatcher unforced.
/// (XCTest runs the tests of one process one at a time, so the global switch is not shared.)
class KernelTestCase: XCTestCase {
    override func tearDown() {
        m3_kernels_force_scalar(0)
        super.tearDown()
    }

    func onEachPath(_ body: (KernelPath) throws -> Void) rethrows {
        defer { m3_kernels_force_scalar(0) }
        for path in KernelPath.allCases {
            path.select()
            try body(path)
        }
    }

    /// Checks a matrix product's output (`stride` floats per token): rows in `rowRange` close to
    /// `want[token][row]`, every other place still `untouched`.
    func assertMatmulOutput(_ y: [Float], want: [[(value: Double, magnitude: Double)]], tokens: Int, rowRange: Range<Int>,
                            stride: Int, untouched: Float, _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        for t in 0 ..< tokens {
            for r in 0 ..< stride {
                let place = "\(label), token \(t) row \(r)"
                if rowRange.contains(r) {
                    assertClose(y[t * stride + r], want[t][r].value, magnitude: want[t][r].magnitude,
                                relative: VecDotTests.relativeTolerance, place, file: file, line: line)
                } else {
                    XCTAssertEqual(y[t * stride + r], untouched, "\(place) written outside the range", file: file, line: line)
                }
            }
        }
    }

    /// Asserts |actual - expected| <= relative * magnitude (magnitude: the sum of |terms|, so the
    /// bound is the rounding a float sum of those terms can accumulate, not a fraction of a result
    /// that cancellation made small).
    func assertClose(_ actual: Float, _ expected: Double, magnitude: Double, relative: Double,
                     _ message: @autoclosure () -> String, file: StaticString = #filePath, line: UInt = #line) {
        let bound = max(relative * magnitude, Double(Float.leastNormalMagnitude))
        let error = abs(Double(actual) - expected)
        XCTAssert(error <= bound, "\(message()): got \(actual), want \(expected), error \(error) > \(bound)",
                  file: file, line: line)
    }
}

/// The GGML types the C kernels multiply.
enum KernelTypes {
    static let legacy: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl]
    /// Those GGUF's `Quantize` writes (the others get random bytes).
    static let quantizable: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0]
    /// Those with a packed form for the AVX-512 kernels.
    static let packable: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q5_1, .q8_0]
    static let kQuants: [GGMLType] = [.q2_K, .q3_K, .q4_K, .q5_K, .q6_K]
    static let all = legacy + kQuants

    /// Weight blocks per row for the size sweeps: odd counts and counts around the AVX2 grouping.
    static let blockCounts = [1, 2, 3, 17, 18]

    /// Activation blocks of 32 that one weight block of `type` spans.
    static func activationBlocks(perWeightBlock type: GGMLType) -> Int { type.blockSize / 32 }
}

extension m3_block_q8 {
    var codes: [Int8] { withUnsafeBytes(of: q) { Array($0.bindMemory(to: Int8.self)) } }
}

/// Random weights and activations, and the reference dot product they are checked against.
enum KernelFixtures {
    /// `rows` rows of `columns` weights of `type`. Legacy types are rounded from random floats by
    /// GGUF's reference quantizer; `rawBytes` (and every K-quant) fills the blocks with random
    /// bytes, then writes sane fp16 scales (so every code, including extremes like -128, occurs).
    static func weights(_ type: GGMLType, rows: Int, columns: Int, rawBytes: Bool = false,
                        using g: inout SeededGenerator) -> [UInt8] {
        if !rawBytes && KernelTypes.quantizable.contains(type) {
            let floats = (0 ..< rows * columns).map { _ in Float.random(in: -1 ... 1, using: &g) }
            return Quantize.blocks(floats, as: type)
        }
        var bytes = (0 ..< rows * type.byteCount(elements: columns)!).map { _ in UInt8.random(in: 0 ... 255, using: &g) }
        for block in stride(from: 0, to: bytes.count, by: type.blockBytes) {
            for offset in scaleOffsets(type) {
                let scale = Float16(Float.random(in: 0.0005 ... 0.02, using: &g))
                bytes[block + offset] = UInt8(scale.bitPattern & 0xff)
                bytes[block + offset + 1] = UInt8(scale.bitPattern >> 8)
            }
        }
        return bytes
    }

    /// Byte offsets of a block's fp16 scales (d, and dmin or m where the type has one).
    static func scaleOffsets(_ type: GGMLType) -> [Int] {
        switch type {
        case .q4_0, .q5_0, .q8_0, .iq4_nl: return [0]
        case .q4_1, .q5_1, .q4_K, .q5_K: return [0, 2]
        case .q2_K: return [80, 82]
        case .q3_K: return [108]
        case .q6_K: return [208]
        default: return []
        }
    }

    /// `blocks` blocks of 32 random floats, each block with its own magnitude (1e-3 ... 1e2), quantized by
    /// the kernel under test's m3_quantize_q8.
    static func activations(blocks: Int, using g: inout SeededGenerator) -> [m3_block_q8] {
        var x: [Float] = []
        for _ in 0 ..< blocks {
            let magnitude = Float(pow(10, Double.random(in: -3 ... 2, using: &g)))
            for _ in 0 ..< 32 { x.append(Float.random(in: -magnitude ... magnitude, using: &g)) }
        }
        return quantized(x)
    }

    static func quantized(_ x: [Float]) -> [m3_block_q8] {
        var out = [m3_block_q8](repeating: m3_block_q8(), count: x.count / 32)
        m3_quantize_q8(x, Int32(x.count), &out)
        return out
    }

    /// One weight row as floats, by GGUF's tested reference dequantizer.
    static func dequantizedRow(_ type: GGMLType, _ bytes: [UInt8], row: Int, columns: Int) -> [Float] {
        let rowBytes = type.byteCount(elements: columns)!
        var out = [Float](repeating: 0, count: columns)
        bytes.withUnsafeBytes { raw in
            Dequantize.run(type, from: raw.baseAddress! + row * rowBytes, count: columns, into: &out)
        }
        return out
    }

    /// Activation blocks as the values they stand for, q[i] * d.
    static func values(_ blocks: ArraySlice<m3_block_q8>) -> [Double] {
        blocks.flatMap { block in block.codes.map { Double($0) * Double(block.d) } }
    }

    /// The dot product in Double, and the sum of |products| that scales its tolerance.
    static func referenceDot(_ w: [Float], _ x: [Double]) -> (value: Double, magnitude: Double) {
        var value = 0.0, magnitude = 0.0
        for i in 0 ..< w.count {
            let product = Double(w[i]) * x[i]
            value += product
            magnitude += abs(product)
        }
        return (value, magnitude)
    }
}
