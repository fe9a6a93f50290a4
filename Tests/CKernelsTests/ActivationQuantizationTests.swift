import CKernels
import XCTest

/// m3_quantize_q8 on both paths against a Swift restatement of its numerics, bit for bit:
/// d = Float(Float16(absmax / 127)), q = (x * (1 / (absmax / 127))).rounded(.toNearestOrEven),
/// s = d * sum(q).
final class ActivationQuantizationTests: KernelTestCase {
    /// The Swift reference for one block of 32.
    static func reference(_ x: ArraySlice<Float>) -> (d: Float, s: Float, q: [Int8]) {
        let absmax = x.reduce(Float(0)) { max($0, abs($1)) }
        let unrounded = absmax / 127
        let inverse: Float = unrounded != 0 ? 1 / unrounded : 0
        let q = x.map { Int8(($0 * inverse).rounded(.toNearestOrEven)) }
        let d = Float(Float16(unrounded))
        return (d, d * Float(q.reduce(0) { $0 + Int($1) }), q)
    }

    /// Same bits, or both NaN (an infinite scale times a zero sum).
    func assertSameFloat(_ a: Float, _ b: Float, _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssert(a.bitPattern == b.bitPattern || (a.isNaN && b.isNaN), "\(message): \(a) != \(b)", file: file, line: line)
    }

    func assertMatchesReference(_ x: [Float], _ label: String, file: StaticString = #filePath, line: UInt = #line) {
        onEachPath { path in
            let blocks = KernelFixtures.quantized(x)
            for b in 0 ..< blocks.count {
                let want = Self.reference(x[32 * b ..< 32 * b + 32])
                assertSameFloat(blocks[b].d, want.d, "\(label) \(path) block \(b) d", file: file, line: line)
                assertSameFloat(blocks[b].s, want.s, "\(label) \(path) block \(b) s", file: file, line: line)
                XCTAssertEqual(blocks[b].codes, want.q, "\(label) \(path) block \(b) q", file: file, line: line)
            }
        }
    }

    func testRandomBlocksQuantizeIdenticallyOnBothPathsAndMatchTheSwiftReference() {
        var g = SeededGenerator(seed: 1)
        for blockCount in [1, 2, 3, 9, 17] {
            var x: [Float] = []
            for _ in 0 ..< blockCount {
                // Magnitudes from 1e-7 (fp16-subnormal scales) to 1e4.
                let magnitude = Float(pow(10, Double.random(in: -7 ... 4, using: &g)))
                for _ in 0 ..< 32 { x.append(Float.random(in: -magnitude ... magnitude, using: &g)) }
            }
            assertMatchesReference(x, "\(blockCount) blocks")
        }
    }

    func testAllZeroBlockHasZeroScaleCodesAndSum() {
        var x = [Float](repeating: 0, count: 96)
        x[70] = -3  // a nonzero block after the zero ones
        assertMatchesReference(x, "zeros")
        onEachPath { path in
            let blocks = KernelFixtures.quantized(x)
            for b in 0 ..< 2 {
                XCTAssertEqual(blocks[b].d, 0, "\(path)")
                XCTAssertEqual(blocks[b].s, 0, "\(path)")
                XCTAssertEqual(blocks[b].codes, [Int8](repeating: 0, count: 32), "\(path)")
            }
            XCTAssertEqual(blocks[2].codes[6], -127, "\(path)")
        }
    }

    func testHalfwayValuesRoundToEven() {
        // absmax 127 gives a step of exactly 1, absmax 31.75 a step of exactly 1/4: x = k + 0.5
        // steps is an exact tie, and ties go to the even code.
        var x: [Float] = [127, 0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 125.5, 126.5, -126.5]
        x += [Float](repeating: 0.5, count: 32 - x.count)
        var quarter: [Float] = [31.75, 0.125, 0.375, 0.625, -0.625, 31.625, -31.625]
        quarter += [Float](repeating: -0.375, count: 32 - quarter.count)
        assertMatchesReference(x + quarter, "ties")
        onEachPath { path in
            let blocks = KernelFixtures.quantized(x + quarter)
            XCTAssertEqual(Array(blocks[0].codes[0 ..< 11]), [127, 0, 2, 2, 4, 0, -2, -2, 126, 126, -126], "\(path)")
            XCTAssertEqual(Array(blocks[1].codes[0 ..< 7]), [127, 0, 2, 2, -2, 126, -126], "\(path)")
            XCTAssertEqual(blocks[1].codes[31], -2, "\(path)")
        }
    }

    func testScaleBeyondHalfPrecisionBecomesInfinityOnBothPaths() {
        // absmax / 127 = 78740 is past fp16's largest finite value (65504): F16C and Swift's
        // Float16 both give infinity, and so must the scalar rounding.
        var x = [Float](repeating: 1, count: 32)
        x[3] = 1e7
        assertMatchesReference(x, "overflow")
        onEachPath { path in
            XCTAssertEqual(KernelFixtures.quantized(x)[0].d, .infinity, "\(path)")
        }
    }
}
