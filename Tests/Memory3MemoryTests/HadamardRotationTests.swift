import CKernels
@testable import Memory3Memory
import Memory3Model
import XCTest

final class HadamardRotationTests: XCTestCase {
    func random(_ count: Int, seed: UInt64) -> [Float] {
        var g = SeededGenerator(seed: seed)
        return (0 ..< count).map { _ in g.nextUnitFloat() * 2 - 1 }
    }

    func testRotatingBackGivesTheVectorsAgain() {
        for dim in [64, 256, 48, 7] {
            let x = random(5 * dim, seed: UInt64(dim))
            var y = x
            HadamardRotation.rotate(&y, count: 5, dim: dim)
            XCTAssertGreaterThan(maxAbsoluteDifference(x, y), 0.1, "dim \(dim): the rotation moves vectors")
            HadamardRotation.unrotate(&y, count: 5, dim: dim)
            XCTAssertLessThan(maxAbsoluteDifference(x, y), 1e-5, "dim \(dim)")
        }
    }

    /// Both kernels (AVX2 and scalar) equal the rotation written as a matrix: H[i][j] =
    /// (-1)^popcount(i & j) / sqrt(n) (Sylvester's order), times the signs, block by block.
    func testRotationIsTheSylvesterHadamardMatrixTimesTheSigns() {
        for dim in [64, 256, 48, 4] {
            let n = HadamardRotation.blockSize(dim)
            let x = random(3 * dim, seed: 7)
            var expected = [Float](repeating: 0, count: x.count)
            for v in 0 ..< 3 {
                for block in stride(from: 0, to: dim, by: n) {
                    for i in 0 ..< n {
                        var sum: Double = 0
                        for j in 0 ..< n {
                            let h: Double = (i & j).nonzeroBitCount % 2 == 0 ? 1 : -1
                            sum += h * Double(HadamardRotation.sign(block + j)) * Double(x[v * dim + block + j])
                        }
                        expected[v * dim + block + i] = Float(sum / Double(n).squareRoot())
                    }
                }
            }
            for scalar in [false, true] {
                m3_kernels_force_scalar(scalar ? 1 : 0)
                defer { m3_kernels_force_scalar(0) }
                var y = x
                HadamardRotation.rotate(&y, count: 3, dim: dim)
                XCTAssertLessThan(maxAbsoluteDifference(y, expected), 1e-5, "dim \(dim), scalar \(scalar)")
            }
        }
    }

    /// Orthogonal: dot products (attention scores) and norms are kept.
    func testDotProductsAreKept() {
        let dim = 64
        let a = random(dim, seed: 1), b = random(dim, seed: 2)
        var ra = a, rb = b
        HadamardRotation.rotate(&ra, count: 1, dim: dim)
        HadamardRotation.rotate(&rb, count: 1, dim: dim)
        let dot = { (u: [Float], v: [Float]) in zip(u, v).map(*).reduce(0, +) }
        XCTAssertEqual(dot(ra, rb), dot(a, b), accuracy: 1e-4)
        XCTAssertEqual(dot(ra, ra), dot(a, a), accuracy: 1e-4)
    }

    /// An outlier dimension is spread evenly over its block.
    func testAnOutlierIsSpreadOverTheBlock() {
        var x = [Float](repeating: 0, count: 64)
        x[5] = 8
        HadamardRotation.rotate(&x, count: 1, dim: 64)
        XCTAssertTrue(x.allSatisfy { abs(abs($0) - 1) < 1e-6 }, "8 / sqrt(64) in every dimension")
    }

    /// The signs are part of the stored int3r/int2r format: these must never change.
    func testSignPatternIsFixed() {
        XCTAssertEqual(HadamardRotation.blockSize(64), 64)
        XCTAssertEqual(HadamardRotation.blockSize(48), 16)
        XCTAssertEqual(HadamardRotation.blockSize(256), 256)
        let signs = (0 ..< 16).map { HadamardRotation.sign($0) > 0 ? "+" : "-" }.joined()
        XCTAssertEqual(signs, "--+-+++-+++---+-")
    }
}
