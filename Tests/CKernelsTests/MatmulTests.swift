import CKernels
import GGUF
import XCTest

/// m3_matmul on both paths: every written output against the Double reference (tolerance 1e-5 of
/// the sum of |products|, as for m3_vec_dot), for 1...9 tokens (the AVX2 path takes tokens in
/// groups of 4, so every remainder occurs) and a row range that starts and ends mid-matrix, with
/// an output stride wider than the matrix; nothing outside the range may be written.
final class MatmulTests: KernelTestCase {
    static let rows = 11
    static let rowRange = 3 ..< 10
    static let maxTokens = 9
    static let stride = rows + 2
    static let untouched: Float = -12345

    func checkMatmul(_ type: GGMLType, weightBlocks: Int, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let columns = weightBlocks * type.blockSize, blocks = columns / 32
        let rowBytes = type.byteCount(elements: columns)!
        let weights = KernelFixtures.weights(type, rows: Self.rows, columns: columns,
                                             rawBytes: KernelTypes.kQuants.contains(type), using: &g)
        let x = KernelFixtures.activations(blocks: Self.maxTokens * blocks, using: &g)
        let dequantized = (0 ..< Self.rows).map { KernelFixtures.dequantizedRow(type, weights, row: $0, columns: columns) }
        let want = (0 ..< Self.maxTokens).map { t in
            let values = KernelFixtures.values(x[t * blocks ..< (t + 1) * blocks])
            return dequantized.map { KernelFixtures.referenceDot($0, values) }
        }
        for tokens in 1 ... Self.maxTokens {
            onEachPath { path in
                var y = [Float](repeating: Self.untouched, count: tokens * Self.stride)
                weights.withUnsafeBytes { w in
                    m3_matmul(Int32(type.rawValue), w.baseAddress!, rowBytes,
                              Int32(Self.rowRange.lowerBound), Int32(Self.rowRange.upperBound),
                              x, Int32(blocks), Int32(tokens), &y, Self.stride)
                }
                assertMatmulOutput(y, want: want, tokens: tokens, rowRange: Self.rowRange, stride: Self.stride,
                                   untouched: Self.untouched, "\(type.name) \(weightBlocks) blocks, \(tokens) tokens, \(path)")
            }
        }
    }

    func testLegacyMatmulMatchesTheReferenceForEveryTokenCountAndAMidMatrixRowRange() {
        for type in KernelTypes.legacy {
            for n in KernelTypes.blockCounts { checkMatmul(type, weightBlocks: n, seed: UInt64(400 * n) + UInt64(type.rawValue)) }
        }
    }

    func testKQuantMatmulMatchesTheReferenceForEveryTokenCountAndAMidMatrixRowRange() {
        for type in KernelTypes.kQuants {
            for n in KernelTypes.blockCounts { checkMatmul(type, weightBlocks: n, seed: UInt64(500 * n) + UInt64(type.rawValue)) }
        }
    }

    /// A token's result does not depend on which group of 4 it was computed in: m3_matmul gives
    /// exactly m3_vec_dot's value for every token count.
    /// Wide rows and many tokens: the AVX2 path walks several row tiles and token tiles (~16 KB
    /// each), from a row range that starts and ends mid-tile; every output still equals m3_vec_dot.
    func testTiledMatmulEqualsVecDotAcrossRowAndTokenTiles() {
        var g = SeededGenerator(seed: 11)
        for type in [GGMLType.q8_0, .q5_0, .q4_K, .q6_K] {
            let columns = 4096, blocks = columns / 32, rows = 29, tokens = 13
            let rowBytes = type.byteCount(elements: columns)!
            let weights = KernelFixtures.weights(type, rows: rows, columns: columns, rawBytes: true, using: &g)
            let x = KernelFixtures.activations(blocks: tokens * blocks, using: &g)
            onEachPath { path in
                weights.withUnsafeBytes { w in
                    x.withUnsafeBufferPointer { xs in
                        var y = [Float](repeating: Self.untouched, count: tokens * rows)
                        m3_matmul(Int32(type.rawValue), w.baseAddress!, rowBytes, 3, Int32(rows - 2),
                                  xs.baseAddress!, Int32(blocks), Int32(tokens), &y, rows)
                        for t in 0 ..< tokens {
                            for r in 0 ..< rows {
                                let want = (3 ..< rows - 2).contains(r)
                                    ? m3_vec_dot(Int32(type.rawValue), w.baseAddress! + r * rowBytes, xs.baseAddress! + t * blocks, Int32(blocks))
                                    : Self.untouched
                                XCTAssertEqual(y[t * rows + r], want, "\(type.name) t \(t) r \(r) \(path)")
                            }
                        }
                    }
                }
            }
        }
    }

    func testMatmulEqualsVecDotExactlyWhateverTheTokenGrouping() {
        var g = SeededGenerator(seed: 7)
        for type in KernelTypes.all {
            let columns = 2 * type.blockSize, blocks = columns / 32, rows = 5
            let rowBytes = type.byteCount(elements: columns)!
            let weights = KernelFixtures.weights(type, rows: rows, columns: columns, rawBytes: true, using: &g)
            let x = KernelFixtures.activations(blocks: Self.maxTokens * blocks, using: &g)
            onEachPath { path in
                weights.withUnsafeBytes { w in
                    x.withUnsafeBufferPointer { xs in
                        for tokens in 1 ... Self.maxTokens {
                            var y = [Float](repeating: 0, count: tokens * rows)
                            m3_matmul(Int32(type.rawValue), w.baseAddress!, rowBytes, 0, Int32(rows),
                                      xs.baseAddress!, Int32(blocks), Int32(tokens), &y, rows)
                            for t in 0 ..< tokens {
                                for r in 0 ..< rows {
                                    let single = m3_vec_dot(Int32(type.rawValue), w.baseAddress! + r * rowBytes,
                                                            xs.baseAddress! + t * blocks, Int32(blocks))
                                    XCTAssertEqual(y[t * rows + r], single, "\(type.name) \(tokens) tokens t \(t) r \(r) \(path)")
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
