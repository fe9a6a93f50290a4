import CKernels
import XCTest

/// m3_attention_group_scores / _accumulate (query heads sharing one KV head, fp32, fp16 and int8 rows)
/// on every path against Double references, within 1e-5 of the sum of |terms|; and the fp16
/// conversion against Swift's Float16. Group sizes 1...7 cover the AVX2 passes of 3 heads and
/// their remainders; counts 0...9 and 100 the scores kernel's groups of 4 keys; dims 8, 24
/// (under one 32-wide slice), 40 (a slice plus one vector), 64, 72 and 12 (scalar fallback).
final class AttentionGroupKernelTests: KernelTestCase {
    static let relativeTolerance = 1e-5
    static let groupSizes = Array(1 ... 7)
    static let counts = Array(0 ... 9) + [100]
    static let dims = [8, 12, 24, 40, 64, 72]
    static let sentinel: Float = -777

    static func randomFloats(_ n: Int, _ g: inout SeededGenerator) -> [Float] {
        (0 ..< n).map { _ in Float.random(in: -2 ... 2, using: &g) }
    }

    /// Rows as the kernel reads them (fp32 or fp16 bits, or int8 codes) and as the reference reads them.
    struct Rows {
        let type: Int32
        let bytes: [UInt8]
        let exact: [Float]

        init(_ floats: [Float], type: Int32) {
            self.type = type
            if type == Int32(M3_KV_I8) {
                let codes = floats.map { Int8(($0 * 60).rounded()) }
                exact = codes.map { Float($0) }
                bytes = codes.map { UInt8(bitPattern: $0) }
            } else if type == Int32(M3_KV_F16) {
                let halves = floats.map { Float16($0) }
                exact = halves.map { Float($0) }
                bytes = halves.withUnsafeBytes { Array($0) }
            } else {
                exact = floats
                bytes = floats.withUnsafeBytes { Array($0) }
            }
        }
    }

    static let types = [Int32(M3_KV_F32), Int32(M3_KV_F16), Int32(M3_KV_I8)]

    func testGroupScoresMatchTheDoubleReferenceForEveryHeadOfTheGroup() {
        var g = SeededGenerator(seed: 21)
        for type in Self.types {
            for dim in Self.dims {
                for groups in Self.groupSizes {
                    for count in Self.counts where groups <= 3 || count == 9 || count == 100 {
                        let q = Self.randomFloats(groups * dim, &g)
                        let keys = Rows(Self.randomFloats(count * dim, &g), type: type)
                        let scale = Float.random(in: 0.05 ... 0.2, using: &g), bias = Float.random(in: -1 ... 1, using: &g)
                        let stride = count + 1  // one sentinel after each head's row
                        onEachPath { path in
                            var out = [Float](repeating: Self.sentinel, count: groups * stride)
                            keys.bytes.withUnsafeBytes { k in
                                m3_attention_group_scores(q, Int32(groups), k.baseAddress, type, Int32(count), Int32(dim),
                                                          scale, bias, &out, Int32(stride))
                            }
                            let label = "type \(type) dim \(dim) groups \(groups) count \(count) \(path)"
                            for h in 0 ..< groups {
                                for j in 0 ..< count {
                                    var dot = 0.0, magnitude = 0.0
                                    for i in 0 ..< dim {
                                        let p = Double(q[h * dim + i]) * Double(keys.exact[j * dim + i])
                                        dot += p
                                        magnitude += abs(p)
                                    }
                                    assertClose(out[h * stride + j], dot * Double(scale) + Double(bias),
                                                magnitude: magnitude * Double(scale) + abs(Double(bias)),
                                                relative: Self.relativeTolerance, "\(label) head \(h) key \(j)")
                                }
                                XCTAssertEqual(out[h * stride + count], Self.sentinel, "\(label) head \(h) wrote past its row")
                            }
                        }
                    }
                }
            }
        }
    }

    func testGroupAccumulateAddsEachHeadsWeightedValuesToItsOutput() {
        var g = SeededGenerator(seed: 22)
        for type in Self.types {
            for dim in Self.dims {
                for groups in Self.groupSizes {
                    for count in Self.counts where groups <= 3 || count == 9 || count == 100 {
                        let stride = count + 2  // weight rows wider than count: the kernel must use the stride
                        let weights = (0 ..< groups * stride).map { _ in Float.random(in: 0 ... 1, using: &g) }
                        let values = Rows(Self.randomFloats(count * dim, &g), type: type)
                        let initial = Self.randomFloats(groups * dim, &g)
                        onEachPath { path in
                            var out = initial + [Self.sentinel]
                            values.bytes.withUnsafeBytes { v in
                                m3_attention_group_accumulate(weights, Int32(stride), Int32(groups), v.baseAddress, type,
                                                              Int32(count), Int32(dim), &out)
                            }
                            let label = "type \(type) dim \(dim) groups \(groups) count \(count) \(path)"
                            for h in 0 ..< groups {
                                for i in 0 ..< dim {
                                    var sum = Double(initial[h * dim + i]), magnitude = abs(sum)
                                    for j in 0 ..< count {
                                        let p = Double(weights[h * stride + j]) * Double(values.exact[j * dim + i])
                                        sum += p
                                        magnitude += abs(p)
                                    }
                                    assertClose(out[h * dim + i], sum, magnitude: magnitude, relative: Self.relativeTolerance,
                                                "\(label) head \(h) element \(i)")
                                }
                            }
                            XCTAssertEqual(out[groups * dim], Self.sentinel, "\(label) wrote past the end")
                        }
                    }
                }
            }
        }
    }

    /// The AVX-512 kernels give the AVX2 kernels' bits (the same partial sums in the same order,
    /// kernels_attention_group_avx512.c), so a machine's level does not change a token's attention.
    /// Counts cover the 8-key and 4-key blocks and single keys; dims the 64-wide, 16-wide and 8-wide
    /// value slices (8, 24, 40, 64, 72, 256).
    func testAVX512KernelsGiveTheAVX2KernelsBits() throws {
        m3_kernels_limit_level(Int32(M3_LEVEL_AVX512))
        guard m3_kernels_level() >= Int32(M3_LEVEL_AVX512) else {
            m3_kernels_force_scalar(0)
            throw XCTSkip("no AVX-512 on this machine")
        }
        var g = SeededGenerator(seed: 24)
        for type in Self.types {
            for dim in [8, 24, 40, 64, 72, 256] {
                for groups in [1, 2, 3, 4, 7] {
                    for count in [1, 3, 4, 5, 8, 11, 12, 17, 100] {
                        let q = Self.randomFloats(groups * dim, &g)
                        let rows = Rows(Self.randomFloats(count * dim, &g), type: type)
                        let stride = count + 1
                        let weights = (0 ..< groups * stride).map { _ in Float.random(in: 0 ... 1, using: &g) }
                        let initial = Self.randomFloats(groups * dim, &g)
                        var scores: [[Float]] = [], sums: [[Float]] = []
                        for (path, level) in [(KernelPath.best, M3_LEVEL_AVX512), (.avx2, M3_LEVEL_AVX2)] {
                            path.select()
                            XCTAssertEqual(m3_attention_group_level(Int32(dim)), Int32(level), "the kernels \(path) runs")
                            var out = [Float](repeating: Self.sentinel, count: groups * stride)
                            var acc = initial
                            rows.bytes.withUnsafeBytes { r in
                                m3_attention_group_scores(q, Int32(groups), r.baseAddress, type, Int32(count), Int32(dim),
                                                          0.125, 0.5, &out, Int32(stride))
                                m3_attention_group_accumulate(weights, Int32(stride), Int32(groups), r.baseAddress, type,
                                                              Int32(count), Int32(dim), &acc)
                            }
                            scores.append(out)
                            sums.append(acc)
                        }
                        let label = "type \(type) dim \(dim) groups \(groups) count \(count)"
                        XCTAssertEqual(scores[0].map(\.bitPattern), scores[1].map(\.bitPattern), "scores, \(label)")
                        XCTAssertEqual(sums[0].map(\.bitPattern), sums[1].map(\.bitPattern), "weighted values, \(label)")
                    }
                }
            }
        }
        m3_kernels_force_scalar(0)
    }

    func testFp16ConversionRoundsLikeSwiftsFloat16OnEveryPath() {
        var g = SeededGenerator(seed: 23)
        // Random magnitudes from subnormal to overflow, halfway cases, signed zeros and infinities.
        var x: [Float] = (0 ..< 1000).map { _ in
            Float.random(in: -1 ... 1, using: &g) * Float(sign: .plus, exponent: Int.random(in: -26 ... 17, using: &g), significand: 1)
        }
        x += [0, -0.0, 1, -1, 65504, 65519, 65520, -70000, .infinity, -.infinity, 1 + 1.0 / 2048, 1 + 3.0 / 2048,
              Float(Float16.leastNonzeroMagnitude) / 2, Float(Float16.leastNonzeroMagnitude) * 1.5, 6.1e-5]
        let expected = x.map { Float16($0).bitPattern }
        onEachPath { path in
            var out = [UInt16](repeating: 0xFFFF, count: x.count + 1)
            m3_fp32_to_fp16(x, &out, x.count)
            for i in x.indices {
                XCTAssertEqual(out[i], expected[i], "\(x[i]) \(path)")
            }
            XCTAssertEqual(out[x.count], 0xFFFF, "wrote past the end \(path)")
            var back = [Float](repeating: 0, count: x.count)
            m3_fp16_to_fp32_row(out, &back, x.count)
            for i in x.indices { XCTAssertEqual(back[i], Float(Float16(x[i])), "\(x[i]) back \(path)") }
        }
    }
}
