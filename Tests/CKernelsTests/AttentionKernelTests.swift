import CKernels
import XCTest

/// m3_attention_scores and m3_attention_accumulate on both paths against Double references,
/// within 1e-5 of the sum of |terms| (plus |bias| or |initial out|). Counts 0...9 cover the AVX2
/// scores kernel's groups of 4 and their remainders, 100 a long run; dims cover one to 16 vectors
/// of 8, 72 (not a power of two), 136 (above 128: accumulate falls back to scalar) and 12 (not a
/// multiple of 8: both fall back to scalar).
final class AttentionKernelTests: KernelTestCase {
    static let relativeTolerance = 1e-5
    static let counts = Array(0 ... 9) + [100]
    static let dims = [8, 12, 16, 64, 72, 128, 136]
    static let sentinel: Float = -777

    static func randomFloats(_ n: Int, _ g: inout SeededGenerator) -> [Float] {
        (0 ..< n).map { _ in Float.random(in: -2 ... 2, using: &g) }
    }

    func testScoresMatchTheDoubleReference() {
        var g = SeededGenerator(seed: 11)
        for dim in Self.dims {
            for count in Self.counts {
                let q = Self.randomFloats(dim, &g), keys = Self.randomFloats(count * dim, &g)
                let scale = Float.random(in: 0.05 ... 0.2, using: &g), bias = Float.random(in: -1 ... 1, using: &g)
                onEachPath { path in
                    var out = [Float](repeating: Self.sentinel, count: count + 1)
                    m3_attention_scores(q, keys, Int32(count), Int32(dim), scale, bias, &out)
                    for j in 0 ..< count {
                        var dot = 0.0, magnitude = 0.0
                        for i in 0 ..< dim {
                            let p = Double(q[i]) * Double(keys[j * dim + i])
                            dot += p
                            magnitude += abs(p)
                        }
                        assertClose(out[j], dot * Double(scale) + Double(bias),
                                    magnitude: magnitude * Double(scale) + abs(Double(bias)),
                                    relative: Self.relativeTolerance, "dim \(dim) count \(count) key \(j) \(path)")
                    }
                    XCTAssertEqual(out[count], Self.sentinel, "dim \(dim) count \(count) wrote past the end \(path)")
                }
            }
        }
    }

    func testAccumulateAddsTheWeightedValuesToTheOutput() {
        var g = SeededGenerator(seed: 12)
        for dim in Self.dims {
            for count in Self.counts {
                let weights = (0 ..< count).map { _ in Float.random(in: 0 ... 1, using: &g) }
                let values = Self.randomFloats(count * dim, &g), initial = Self.randomFloats(dim, &g)
                onEachPath { path in
                    var out = initial + [Self.sentinel]
                    m3_attention_accumulate(weights, values, Int32(count), Int32(dim), &out)
                    for i in 0 ..< dim {
                        var sum = Double(initial[i]), magnitude = abs(Double(initial[i]))
                        for j in 0 ..< count {
                            let p = Double(weights[j]) * Double(values[j * dim + i])
                            sum += p
                            magnitude += abs(p)
                        }
                        assertClose(out[i], sum, magnitude: magnitude, relative: Self.relativeTolerance,
                                    "dim \(dim) count \(count) element \(i) \(path)")
                    }
                    XCTAssertEqual(out[dim], Self.sentinel, "dim \(dim) count \(count) wrote past the end \(path)")
                }
            }
        }
    }
}
