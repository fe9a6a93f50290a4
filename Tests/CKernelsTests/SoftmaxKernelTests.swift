import CKernels
import XCTest

final class SoftmaxKernelTests: KernelTestCase {
    /// Each probability within 1e-6 relative (plus 1e-12 absolute) of a Double softmax.
    func testSoftmaxMatchesADoubleReferenceOnEveryPath() {
        var g = SeededGenerator(seed: 5)
        onEachPath { path in
            for n in [1, 2, 7, 8, 9, 16, 63, 640, 1001] {
                let input = (0 ..< n).map { _ in Float.random(in: -30 ... 30, using: &g) }
                var v = input
                m3_softmax(&v, Int32(n))
                let m = Double(input.max()!)
                let e = input.map { exp(Double($0) - m) }
                let sum = e.reduce(0, +)
                for i in 0 ..< n {
                    let expected = e[i] / sum
                    XCTAssertEqual(Double(v[i]), expected, accuracy: expected * 1e-6 + 1e-12, "\(path), n \(n), i \(i)")
                }
            }
        }
    }

    func testVeryNegativeLogitsGiveZeroNotNaN() {
        onEachPath { path in
            var v: [Float] = [0, -1e4, -200, -90, 3, -1e30, 1, 2, 0]
            m3_softmax(&v, Int32(v.count))
            XCTAssert(v.allSatisfy { $0.isFinite && $0 >= 0 }, "\(path): \(v)")
            XCTAssertLessThan(v[1], 1e-30, "\(path)")
            XCTAssertEqual(Double(v.reduce(0, +)), 1, accuracy: 1e-6, "\(path)")
        }
    }
}
