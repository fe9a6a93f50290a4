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
