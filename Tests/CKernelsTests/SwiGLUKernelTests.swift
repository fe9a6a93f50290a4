import CKernels
import Foundation
import XCTest

/// m3_swiglu: silu(gate) * up on every dispatch path, within a few ulp of the exact value, each
/// element alone (the same bits however the range is split).
final class SwiGLUKernelTests: KernelTestCase {
    static func exact(_ g: Float, _ up: Float) -> Double {
        Double(g) / (1 + exp(-Double(g))) * Double(up)
    }

    func testWithinAFewUlpOnEveryPathAndSplit() {
        var generator = SeededGenerator(seed: 29)
        onEachPath { path in
            for n in [1, 7, 8, 15, 16, 17, 1536, 2051] {
                var gate = (0 ..< n).map { _ in Float.random(in: -30 ... 30, using: &generator) }
                let edges: [Float] = [0, -0.0, 1e-8, -1e-8, 88, -88, 100, -100, 1e30, -1e30, -3.4e38, 1e-40, 0.5, -0.5, 20, -20, -87.5]
                for (i, e) in edges.enumerated() where i < n { gate[i] = e }
                let up = (0 ..< n).map { i in i % 5 == 0 ? 1 : Float.random(in: -2 ... 2, using: &generator) }
                var whole = gate
                m3_swiglu(&whole, up, n)
                for i in 0 ..< n {
                    let want = Self.exact(gate[i], up[i])
                    // 4 ulp of the result (the scalar path's g / (1 + expf(-g)) * up rounds three
                    // times; the vector e^x is within 2e-7), or 1e-34 where silu is about 0 (0 below -87).
                    XCTAssertEqual(Double(whole[i]), want, accuracy: 4 * Double(Float.ulpOfOne) * abs(want) + 1e-34,
                                   "\(path), n \(n), silu(\(gate[i])) * \(up[i])")
                }
                // Split at a multiple of 16 (as the engine's activation chunks are): the same bits on
                // every path. (At an odd place the scalar path alone would keep them.)
                var split = gate
                let cut = n / 3 / 16 * 16
                split.withUnsafeMutableBufferPointer { p in
                    m3_swiglu(p.baseAddress!, up, cut)
                    m3_swiglu(p.baseAddress! + cut, Array(up[cut...]), n - cut)
                }
                XCTAssertEqual(split.map(\.bitPattern), whole.map(\.bitPattern), "\(path), n \(n)")
            }
        }
        var nan: [Float] = [.nan]
        m3_swiglu(&nan, [1], 1)
        XCTAssertTrue(nan[0].isNaN)
    }
}
