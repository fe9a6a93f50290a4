import CKernels
import XCTest

/// The sentence encoder's bfloat16 products and GELU (kernels_dense_bf16.c): every path gives the
/// same bits, a token's outputs do not depend on its batch or on how the outputs are split, and the
/// results are what the rounded inputs make.
final class BFloat16DenseKernelTests: XCTestCase {
    override func tearDown() {
        m3_bf16_matmul_limit_path(3)
        m3_kernels_force_scalar(0)
        m3_kernels_limit_level(Int32(M3_LEVEL_AVX512))
    }

    /// The float a bfloat16 stands for.
    static func float(_ h: UInt16) -> Float { Float(bitPattern: UInt32(h) << 16) }

    static func bf16(_ x: [Float]) -> [UInt16] {
        var pairs = [UInt32](repeating: 0, count: (x.count + 1) / 2)
        m3_f32_to_bf16_pairs(x, 1, Int32(x.count), &pairs)
        return (0 ..< x.count).map { UInt16(truncatingIfNeeded: pairs[$0 / 2] >> (16 * UInt32($0 % 2))) }
    }

    func testConversionRoundsToNearestEvenAndFlushesSubnormals() {
        // 1 + 2^-8 is halfway between two bfloat16 values (1 and 1 + 2^-7): to the even one, 1.
        // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: to 1 + 2^-6 (even).
        let cases: [(Float, UInt16)] = [
            (1, 0x3F80), (1 + 0x1p-8, 0x3F80), (1 + 3 * 0x1p-8, 0x3F82), (1 + 0x1p-8 + 0x1p-20, 0x3F81),
            (-2.5, 0xC020), (0, 0), (-0.0, 0x8000), (Float.leastNonzeroMagnitude, 0), (-Float.leastNormalMagnitude / 2, 0x8000),
            (.infinity, 0x7F80), (-.infinity, 0xFF80), (Float.greatestFiniteMagnitude, 0x7F80),
        ]
        for (x, expected) in cases {
            // 34 values: the AVX-512 loop (16 at a time) and the scalar tail see each case.
            let row = [Float](repeating: x, count: 33) + [x]
            for level in [0, 1] {
                m3_kernels_force_scalar(Int32(level == 0 ? 1 : 0))
                XCTAssertEqual(Set(Self.bf16(row)), [expected], "\(x) (scalar: \(level == 0))")
            }
        }
        let nan = Self.bf16([Float](repeating: .nan, count: 32))
        XCTAssertTrue(nan.allSatisfy { Self.float($0).isNaN })
    }

    func testEveryPathGivesTheSameBitsForAnyBatchOrSplit() {
        var generator = SeededGenerator(seed: 23)
        let paths = Array(0 ... Int(m3_bf16_matmul_path()))
        for (n, k, outputs) in [(1, 16, 16), (5, 384, 40), (9, 40, 64), (4, 1536, 70), (7, 13, 5), (64, 384, 96)] {
            let x = (0 ..< n * k).map { _ in Float.random(in: -2 ... 2, using: &generator) }
            let w = (0 ..< outputs * k).map { _ in Float.random(in: -0.5 ... 0.5, using: &generator) }
            let bias = (0 ..< outputs).map { _ in Float.random(in: -1 ... 1, using: &generator) }
            let pairs = (k + 1) / 2, blocks = (outputs + 15) / 16
            var xPairs = [UInt32](repeating: 0, count: n * pairs)
            m3_f32_to_bf16_pairs(x, Int32(n), Int32(k), &xPairs)
            var packed = [UInt16](repeating: 0, count: m3_bf16_packed_count(Int32(outputs), Int32(k)))
            m3_bf16_pack_weights(w, Int32(outputs), Int32(k), &packed)

            var results: [[Float]] = []
            for path in paths {
                m3_bf16_matmul_limit_path(Int32(path))
                XCTAssertEqual(Int(m3_bf16_matmul_path()), path)
                var out = [Float](repeating: 0, count: n * outputs)
                m3_bf16_matmul(xPairs, Int32(n), Int32(pairs), packed, Int32(outputs), 0, Int32(blocks), bias, &out, Int32(outputs))
                results.append(out)
                // Split at block 1 (a tile boundary moves) and one token at a time: the same bits.
                var split = [Float](repeating: .nan, count: n * outputs)
                m3_bf16_matmul(xPairs, Int32(n), Int32(pairs), packed, Int32(outputs), 0, 1, bias, &split, Int32(outputs))
                for i in 0 ..< n where outputs > 16 {
                    XCTAssertTrue(split[i * outputs + 16 ..< (i + 1) * outputs].allSatisfy(\.isNaN), "path \(path): written past block 0")
                }
                m3_bf16_matmul(xPairs, Int32(n), Int32(pairs), packed, Int32(outputs), 1, Int32(blocks), bias, &split, Int32(outputs))
                XCTAssertEqual(split.map(\.bitPattern), out.map(\.bitPattern), "path \(path) n \(n) k \(k)")
                for i in 0 ..< n {
                    var alone = [Float](repeating: 0, count: outputs)
                    m3_bf16_matmul(Array(xPairs[i * pairs ..< (i + 1) * pairs]), 1, Int32(pairs), packed, Int32(outputs), 0, Int32(blocks),
                                   bias, &alone, Int32(outputs))
                    XCTAssertEqual(alone.map(\.bitPattern), out[i * outputs ..< (i + 1) * outputs].map(\.bitPattern), "path \(path) token \(i)")
                }
            }
            for r in results.dropFirst() { XCTAssertEqual(r.map(\.bitPattern), results[0].map(\.bitPattern), "n \(n) k \(k) outputs \(outputs)") }

            // What the rounded inputs make, summed exactly: within float rounding of the sum.
            let xb = x.indices.map { Self.float(Self.bf16([x[$0]])[0]) }, wb = w.indices.map { Self.float(Self.bf16([w[$0]])[0]) }
            for i in 0 ..< n {
                for j in 0 ..< outputs {
                    var exact = Double(bias[j]), magnitude = abs(Double(bias[j]))
                    for d in 0 ..< k {
                        exact += Double(xb[i * k + d]) * Double(wb[j * k + d])
                        magnitude += abs(Double(xb[i * k + d]) * Double(wb[j * k + d]))
                    }
                    XCTAssertEqual(Double(results[0][i * outputs + j]), exact, accuracy: magnitude * Double(k + 1) * 0x1p-24, "(\(i), \(j))")
                }
            }
        }
    }

    func testGELUIsWithinAFewUlpOfErfAndTheSameOnEveryPath() {
        var values: [Float] = stride(from: Float(-12), through: 12, by: 0.0007).map { $0 }
        values += [0, -0.0, 1e-30, -1e-30, 1e-8, 100, -100, .infinity, -.infinity, Float.greatestFiniteMagnitude]
        var results: [[Float]] = []
        for level in [M3_LEVEL_AVX512, M3_LEVEL_AVX2, M3_LEVEL_SCALAR] {
            m3_kernels_limit_level(Int32(level))
            var v = values
            m3_gelu_erf(&v, v.count)
            results.append(v)
        }
        m3_kernels_limit_level(Int32(M3_LEVEL_AVX512))
        for r in results.dropFirst() { XCTAssertEqual(r.map(\.bitPattern), results[0].map(\.bitPattern)) }
        let vector = results[0]
        for (x, g) in zip(values, vector) where x.isFinite && abs(x) < 1e30 {
            let reference = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
            // Relative error of a few ulp for x >= 0; below, 1 + erf cancels, and erf's absolute
            // error (~1e-7; erff's own float rounding near -1 is 6e-8) times |x| / 2 is what is left.
            let tolerance = x >= 0 ? 4e-7 * abs(reference) + 1e-37 : 1.2e-6
            XCTAssertEqual(Double(g), reference, accuracy: tolerance, "gelu(\(x))")
        }
        XCTAssertEqual(vector[values.firstIndex(of: .infinity)!], .infinity)
        XCTAssertTrue(vector[values.firstIndex(of: -.infinity)!].isNaN || vector[values.firstIndex(of: -.infinity)!] == 0)
        var nan: [Float] = [.nan]
        m3_gelu_erf(&nan, 1)
        XCTAssertTrue(nan[0].isNaN)
    }
}
