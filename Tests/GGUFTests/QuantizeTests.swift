import XCTest
@testable import GGUF

/// `Quantize.blocks` writes the bytes GGML's reference quantizers write, and its round-to-nearest
/// error stays within half a quantization step.
final class QuantizeTests: XCTestCase {
    func testQuantizersMatchTheGGUFPythonReferenceByteForByte() throws {
        let fixture = try QuantReferenceFixture.load()
        for type: GGMLType in [.f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1] {
            let sample = try XCTUnwrap(fixture.entries[type.name]?.quantize, type.name)
            let bytes = Quantize.blocks(sample.floats, as: type)
            XCTAssertEqual(bytes.count, sample.raw.count, type.name)
            for (block, (got, want)) in zip(bytes.chunked(type.blockBytes), sample.raw.chunked(type.blockBytes)).enumerated() {
                XCTAssertEqual(got, want, "\(type.name) block \(block)")
            }
        }
    }

    /// Blocks of random data at several magnitudes, the smallest putting fp16 scales in the
    /// subnormal range.
    static let randomBlocks: [[Float]] = {
        var rng = SeededGenerator(seed: 4)
        var blocks: [[Float]] = []
        for scale: Float in [1e-3, 0.1, 1, 50] {
            for _ in 0 ..< 64 {
                let offset = Float.random(in: -1 ... 1, using: &rng) * scale
                blocks.append(randomFloats(32, in: -scale ... scale, using: &rng).map { $0 + offset })
            }
        }
        return blocks
    }()

    func half(_ bytes: [UInt8], at offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8))
    }

    /// Rounding error of the Float32 arithmetic itself, far below any quantization step.
    func slop(_ block: [Float]) -> Float { 1e-6 * block.map(abs).max()! }

    /// The stored scale is the exact step rounded to fp16; each element is off by at most half a
    /// step, plus the scale's own rounding times the code (up to 127).
    func testQ8_0ErrorIsAtMostHalfAStep() {
        for block in Self.randomBlocks {
            let bytes = Quantize.blocks(block, as: .q8_0)
            let step = block.map(abs).max()! / 127
            let d = half(bytes, at: 0)
            XCTAssertEqual(d, Float(Float16(step)))
            let bound = step / 2 + 127 * abs(step - d) + slop(block)
            for (x, y) in zip(block, dequantize(bytes, as: .q8_0)) {
                XCTAssertLessThanOrEqual(abs(x - y), bound, "x=\(x) step=\(step)")
            }
        }
    }

    /// Q4_0 maps the value of largest magnitude to code -8 (step = that value / -8); values
    /// beyond 7.5 steps on the other side clamp to +7 and may be off by a whole step.
    func testQ4_0ErrorIsAtMostHalfAStepBelowTheClamp() {
        for block in Self.randomBlocks {
            let bytes = Quantize.blocks(block, as: .q4_0)
            let extreme = block.max(by: { abs($0) < abs($1) })!
            let step = extreme / -8
            let d = half(bytes, at: 0)
            XCTAssertEqual(d, Float(Float16(step)))
            for (x, y) in zip(block, dequantize(bytes, as: .q4_0)) {
                let steps: Float = x / step > 7.5 - 1e-4 ? 1 : 0.5
                let bound = abs(step) * steps + 8 * abs(step - d) + slop(block)
                XCTAssertLessThanOrEqual(abs(x - y), bound, "x=\(x) step=\(step)")
            }
        }
    }

    /// Q4_1 spans [min, max] in 15 steps, so nothing clamps: every element is within half a step,
    /// plus the rounding of the fp16 step (times up to 15) and of the fp16 minimum.
    func testQ4_1ErrorIsAtMostHalfAStep() {
        for block in Self.randomBlocks {
            let bytes = Quantize.blocks(block, as: .q4_1)
            let lo = block.min()!
            let step = (block.max()! - lo) / 15
            let d = half(bytes, at: 0), m = half(bytes, at: 2)
            XCTAssertEqual(d, Float(Float16(step)))
            XCTAssertEqual(m, Float(Float16(lo)))
            let bound = step / 2 + 15 * abs(step - d) + abs(lo - m) + slop(block)
            for (x, y) in zip(block, dequantize(bytes, as: .q4_1)) {
                XCTAssertLessThanOrEqual(abs(x - y), bound, "x=\(x) step=\(step) min=\(lo)")
            }
        }
    }

    /// Values on a block's own grid, with an fp16-exact step, come back unchanged.
    func testValuesOnTheQuantizationGridRoundTripExactly() {
        let zeros = [Float](repeating: 0, count: 64)
        for type: GGMLType in [.q8_0, .q4_0, .q4_1, .f16, .bf16] {
            XCTAssertEqual(dequantize(Quantize.blocks(zeros, as: type), as: type), zeros, type.name)
        }
        let cases: [(GGMLType, [Float])] = [
            (.q8_0, (0 ..< 32).map { Float($0 * 8 - 127) / 128 }),  // largest 127/128: step 1/128
            (.q4_0, (0 ..< 32).map { Float($0 % 16 - 8) / 64 }),    // largest -8/64: step 1/64
            (.q4_1, (0 ..< 32).map { Float($0 % 16) / 16 - 3 }),    // min -3, max -3 + 15/16: step 1/16
            (.q4_1, [Float](repeating: 0.75, count: 32)),           // step 0, minimum 0.75
        ]
        for (type, values) in cases {
            XCTAssertEqual(dequantize(Quantize.blocks(values, as: type), as: type), values, type.name)
        }
    }

    func testBF16RoundsToNearestEvenAndKeepsNaNQuiet() {
        let inputs: [Float] = [1 + 0x1p-8, 1 + 3 * 0x1p-8, 1 + 0x1p-8 + 0x1p-20, -2.5, .infinity, .nan]
        let bits = Quantize.blocks(inputs, as: .bf16).chunked(2).map { UInt16($0[0]) | UInt16($0[1]) << 8 }
        XCTAssertEqual(Array(bits[0 ..< 5]), [0x3F80, 0x3F82, 0x3F81, 0xC020, 0x7F80])
        XCTAssertEqual(bits[5] & 0x7FC0, 0x7FC0, "NaN stays a quiet NaN")
    }

    func testNonFiniteInputsDoNotCrash() {
        var block = [Float](repeating: 1, count: 32)
        block[3] = .nan
        block[7] = .infinity
        block[9] = -.infinity
        for type: GGMLType in [.q8_0, .q4_0, .q4_1] {
            XCTAssertEqual(Quantize.blocks(block, as: type).count, type.blockBytes, type.name)
        }
    }
}

extension Array {
    func chunked(_ size: Int) -> [[Element]] {
        stride(from: 0, to: count, by: size).map { Array(self[$0 ..< Swift.min($0 + size, count)]) }
    }
}
