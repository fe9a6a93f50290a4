import CKernels
import GGUF
import XCTest

/// m3_vec_dot for every supported weight type, on both paths, against a Double dot of GGUF's
/// dequantized weight row with the activations' q * d. Tolerance: 1e-5 of the sum of |products|
/// (float accumulation over at most 18 * 256 terms is far inside it; a wrong scale, nibble or
/// sub-block is far outside).
final class VecDotTests: KernelTestCase {
    static let relativeTolerance = 1e-5

    func testEveryTypeIsSupportedAndOthersAreNot() {
        for type in KernelTypes.all {
            XCTAssertEqual(m3_supports_type(Int32(type.rawValue)), 1, type.name)
        }
        for type in [GGMLType.f32, .f16, .bf16] {
            XCTAssertEqual(m3_supports_type(Int32(type.rawValue)), 0, type.name)
        }
        for id: Int32 in [9, 15, 16, -1] {  // Q8_1, Q8_K, IQ2_XXS, nonsense
            XCTAssertEqual(m3_supports_type(id), 0, "type \(id)")
        }
    }

    /// Checks `rows` random rows of `type` with `weightBlocks` blocks each against the reference.
    func checkDots(_ type: GGMLType, weightBlocks: Int, rawBytes: Bool, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let columns = weightBlocks * type.blockSize, blocks = columns / 32, rows = 3
        let weights = KernelFixtures.weights(type, rows: rows, columns: columns, rawBytes: rawBytes, using: &g)
        let rowBytes = type.byteCount(elements: columns)!
        var x = KernelFixtures.activations(blocks: blocks, using: &g)
        x[blocks / 2] = m3_block_q8()  // an all-zero block (d = 0, s = 0) in every row
        let values = KernelFixtures.values(x[...])
        for r in 0 ..< rows {
            let want = KernelFixtures.referenceDot(KernelFixtures.dequantizedRow(type, weights, row: r, columns: columns), values)
            onEachPath { path in
                let got = weights.withUnsafeBytes { w in
                    m3_vec_dot(Int32(type.rawValue), w.baseAddress! + r * rowBytes, x, Int32(blocks))
                }
                assertClose(got, want.value, magnitude: want.magnitude, relative: Self.relativeTolerance,
                            "\(type.name) \(weightBlocks) blocks row \(r) raw \(rawBytes) \(path)")
            }
        }
    }

    func testLegacyDotsMatchTheDequantizedReferenceForOddBlockCounts() {
        for type in KernelTypes.legacy {
            for n in KernelTypes.blockCounts {
                checkDots(type, weightBlocks: n, rawBytes: false, seed: UInt64(100 * n) + UInt64(type.rawValue))
            }
        }
    }

    func testLegacyDotsMatchTheReferenceOnRandomBytesIncludingExtremeCodes() {
        for type in KernelTypes.legacy {
            for n in KernelTypes.blockCounts {
                checkDots(type, weightBlocks: n, rawBytes: true, seed: UInt64(200 * n) + UInt64(type.rawValue))
            }
        }
    }

    func testKQuantDotsMatchTheDequantizedReferenceForOddSuperblockCounts() {
        for type in KernelTypes.kQuants {
            for n in KernelTypes.blockCounts {
                checkDots(type, weightBlocks: n, rawBytes: true, seed: UInt64(300 * n) + UInt64(type.rawValue))
            }
        }
    }

    /// Every weight byte at one extreme against activations all at +-127: the largest integer
    /// partial sums the kernels form (16-bit pair sums, 32-bit block sums) must not saturate.
    func testExtremeCodesDoNotOverflowTheIntegerSums() {
        for type in KernelTypes.all {
            let columns = 2 * type.blockSize, blocks = columns / 32
            for fill: UInt8 in [0x00, 0x7f, 0x80, 0xff] {
                var weights = [UInt8](repeating: fill, count: type.byteCount(elements: columns)!)
                for block in stride(from: 0, to: weights.count, by: type.blockBytes) {
                    for offset in KernelFixtures.scaleOffsets(type) {
                        weights[block + offset] = 0x00  // fp16 0.5 (0x3800)
                        weights[block + offset + 1] = 0x38
                    }
                }
                let w = KernelFixtures.dequantizedRow(type, weights, row: 0, columns: columns)
                for sign: Float in [1, -1] {
                    let x = KernelFixtures.quantized([Float](repeating: sign, count: columns))
                    let want = KernelFixtures.referenceDot(w, KernelFixtures.values(x[...]))
                    onEachPath { path in
                        let got = m3_vec_dot(Int32(type.rawValue), weights, x, Int32(blocks))
                        assertClose(got, want.value, magnitude: want.magnitude, relative: Self.relativeTolerance,
                                    "\(type.name) bytes \(fill) activations \(sign) \(path)")
                    }
                }
            }
        }
    }
}
