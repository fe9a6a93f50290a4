import CKernels
import XCTest

/// The int8 memory read: m3_quantize_keys_i8 / _values_i8 (codes, scales, key code sums) and
/// m3_attention_group_scores_i8 / _accumulate_i8 on every path. The VNNI scores kernel rounds each
/// head's scaled query to int8, so it is held to that rounding's bound, not the float tolerance;
/// the other paths and the accumulate are float sums of the dequantized rows.
final class Int8AttentionKernelTests: KernelTestCase {
    static let sentinel: Float = -777

    func randomRows(_ tokens: Int, _ dim: Int, _ g: inout SeededGenerator, lead: Int = 0) -> [Float] {
        (0 ..< tokens * dim).map { i in
            let x = Float.random(in: -1 ... 1, using: &g) * (i % dim == 3 ? 8 : 1)  // an outlier channel
            return i / dim < lead ? 20 * x : x  // the prefix's keys are far larger (the attention sink)
        }
    }

    func testKeyCodesAreWithinHalfAStepOfTheirChannelScaleAndTheLeadGroupHasItsOwn() {
        var g = SeededGenerator(seed: 31)
        for (tokens, dim, lead) in [(9, 16, 0), (9, 16, 2), (70, 64, 1), (1, 8, 1), (0, 8, 0)] {
            let x = randomRows(tokens, dim, &g, lead: lead)
            var codes = [Int8](repeating: 0, count: tokens * dim), scales = [Float](repeating: -1, count: 2 * dim)
            var sums = [Int32](repeating: -1, count: tokens)
            m3_quantize_keys_i8(x, Int32(tokens), Int32(dim), Int32(lead), &codes, &scales, &sums)
            for d in 0 ..< dim {
                let groups = [(0, 0 ..< lead), (1, lead ..< tokens)]
                for (group, range) in groups {
                    let amax = range.map { abs(x[$0 * dim + d]) }.max() ?? 0
                    XCTAssertEqual(scales[group * dim + d], amax / 127, "scale of group \(group) channel \(d)")
                    for t in range {
                        let scale = scales[group * dim + d]
                        XCTAssertLessThanOrEqual(abs(Float(codes[t * dim + d]) * scale - x[t * dim + d]), 0.5 * scale * 1.0001,
                                                 "token \(t) channel \(d)")
                    }
                }
            }
            for t in 0 ..< tokens {
                XCTAssertEqual(sums[t], codes[t * dim ..< (t + 1) * dim].reduce(Int32(0)) { $0 + Int32($1) }, "sum of key \(t)")
            }
            if lead > 0, tokens > lead {
                XCTAssertGreaterThan(scales[3], 5 * scales[dim + 3], "the prefix's keys keep scales of their own")
            }
        }
    }

    func testValueCodesAreWithinHalfAStepOfTheirTokenScale() {
        var g = SeededGenerator(seed: 32)
        let tokens = 11, dim = 64
        let x = randomRows(tokens, dim, &g)
        var codes = [Int8](repeating: 0, count: tokens * dim), scales = [Float](repeating: -1, count: tokens)
        m3_quantize_values_i8(x, Int32(tokens), Int32(dim), &codes, &scales)
        for t in 0 ..< tokens {
            XCTAssertEqual(scales[t], x[t * dim ..< (t + 1) * dim].map(abs).max()! / 127)
            for d in 0 ..< dim {
                XCTAssertLessThanOrEqual(abs(Float(codes[t * dim + d]) * scales[t] - x[t * dim + d]), 0.5 * scales[t] * 1.0001)
            }
        }
        XCTAssertEqual(codes.map { abs(Int($0)) }.max(), 127, "the largest value takes the largest code")
    }

    /// Scores against Double sums of q * channel scale * code. The VNNI path rounds each head's
    /// scaled query to int8 (step = its amax / 127), so a score may move by half a step times the
    /// sum of |codes| (times the attention scale); float paths by float rounding.
    func testScoresMatchTheDequantizedKeysWithinTheQueryRounding() throws {
        var g = SeededGenerator(seed: 33)
        var vnniRan = false
        for dim in [16, 64, 128, 256] {
            for groups in [1, 2, 3, 4] {
                for count in [0, 1, 7, 8, 9, 17, 63, 100] {
                    let q = (0 ..< groups * dim).map { _ in Float.random(in: -2 ... 2, using: &g) }
                    let x = randomRows(count, dim, &g, lead: min(1, count))
                    var codes = [Int8](repeating: 0, count: count * dim), scales = [Float](repeating: 0, count: 2 * dim)
                    var sums = [Int32](repeating: 0, count: count)
                    m3_quantize_keys_i8(x, Int32(count), Int32(dim), 0, &codes, &scales, &sums)
                    let channelScales = Array(scales[dim...])
                    let scale: Float = 0.125, bias: Float = -0.5
                    let stride = count + 1
                    onEachPath { path in
                        let integer = m3_attention_group_i8_vnni(Int32(dim)) == 1
                        vnniRan = vnniRan || integer
                        var out = [Float](repeating: Self.sentinel, count: groups * stride)
                        m3_attention_group_scores_i8(q, Int32(groups), codes, sums, channelScales, Int32(count), Int32(dim),
                                                     scale, bias, &out, Int32(stride))
                        for h in 0 ..< groups {
                            let scaled = (0 ..< dim).map { Double(q[h * dim + $0]) * Double(channelScales[$0]) }
                            let step = (scaled.map(abs).max() ?? 0) / 127
                            for j in 0 ..< count {
                                var dot = 0.0, magnitude = 0.0, codeMass = 0.0
                                for d in 0 ..< dim {
                                    let p = scaled[d] * Double(codes[j * dim + d])
                                    dot += p
                                    magnitude += abs(p)
                                    codeMass += abs(Double(codes[j * dim + d]))
                                }
                                let want = dot * Double(scale) + Double(bias)
                                let bound = (integer ? 0.5 * step * codeMass * 1.001 : 0) * Double(scale)
                                    + 1e-5 * (magnitude * Double(scale) + abs(Double(bias)))
                                XCTAssertLessThanOrEqual(abs(Double(out[h * stride + j]) - want), bound,
                                                         "dim \(dim) groups \(groups) count \(count) \(path) head \(h) key \(j)")
                            }
                            XCTAssertEqual(out[h * stride + count], Self.sentinel, "head \(h) wrote past its row")
                        }
                    }
                }
            }
        }
        if m3_kernels_level() >= Int32(M3_LEVEL_AVX512) {
            XCTAssert(vnniRan, "the VNNI kernel ran")
        }
    }

    /// The int8 accumulate is the float kernel on weights times the rows' token scales: the same
    /// bits as calling it with the weights scaled beforehand, on every path (the 128-row blocks
    /// of scaled weights keep each element's chain of multiply-adds in order).
    func testAccumulateEqualsTheFloatKernelOnScaledWeights() {
        var g = SeededGenerator(seed: 34)
        for dim in [8, 64, 256] {
            for groups in [1, 3, 4] {
                for count in [0, 1, 9, 127, 128, 129, 300] {
                    let x = randomRows(count, dim, &g)
                    var codes = [Int8](repeating: 0, count: count * dim), tokenScales = [Float](repeating: 0, count: count)
                    m3_quantize_values_i8(x, Int32(count), Int32(dim), &codes, &tokenScales)
                    let stride = count + 3
                    let weights = (0 ..< groups * stride).map { _ in Float.random(in: 0 ... 1, using: &g) }
                    let scaled = weights.enumerated().map { i, w in i % stride < count ? w * tokenScales[i % stride] : w }
                    let initial = (0 ..< groups * dim).map { _ in Float.random(in: -1 ... 1, using: &g) }
                    onEachPath { path in
                        var got = initial, want = initial
                        m3_attention_group_accumulate_i8(weights, Int32(stride), Int32(groups), codes, tokenScales,
                                                         Int32(count), Int32(dim), &got)
                        codes.withUnsafeBytes { c in
                            m3_attention_group_accumulate(scaled, Int32(stride), Int32(groups), c.baseAddress, Int32(M3_KV_I8),
                                                          Int32(count), Int32(dim), &want)
                        }
                        XCTAssertEqual(got.map(\.bitPattern), want.map(\.bitPattern), "dim \(dim) groups \(groups) count \(count) \(path)")
                    }
                }
            }
        }
    }
}
