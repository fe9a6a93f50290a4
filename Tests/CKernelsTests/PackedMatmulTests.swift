import CKernels
import GGUF
import XCTest

/// Packed weights (CKernels.h): m3_pack_rows + m3_matmul_packed on the AVX-512 path and the
/// scalar one, against the Double reference over the GGML rows (tolerance 1e-5 of the sum of
/// |products|, as for m3_matmul), for block counts that leave every tail group (4, 2, 1), 1...9
/// tokens (groups of 4 and every remainder) and row ranges inside the matrix.
final class PackedMatmulTests: KernelTestCase {
    static let rows = 7
    static let rowRanges = [2 ..< 6, 1 ..< 6]
    static let stride = rows + 1
    static let untouched: Float = -12345
    static let blockCounts = [1, 2, 3, 4, 5, 6, 7, 18, 48]

    /// Splits activation blocks into m3_q8_rows arrays and runs `body` on them.
    func withSplit<R>(_ x: [m3_block_q8], _ body: (m3_q8_rows) -> R) -> R {
        var q = [Int8](repeating: 0, count: x.count * 32)
        var d = [Float](repeating: 0, count: x.count), s = d
        return q.withUnsafeMutableBufferPointer { qb in d.withUnsafeMutableBufferPointer { db in s.withUnsafeMutableBufferPointer { sb in
            let rows = m3_q8_rows(q: qb.baseAddress, d: db.baseAddress, s: sb.baseAddress)
            m3_split_q8(x, Int32(x.count), rows)
            return body(rows)
        } } }
    }

    func packed(_ type: GGMLType, _ weights: [UInt8], columns: Int) -> [UInt8] {
        let blocks = columns / 32
        var out = [UInt8](repeating: 0, count: Self.rows * m3_packed_row_bytes(Int32(type.rawValue), Int32(blocks)))
        let ok = weights.withUnsafeBytes { w in
            m3_pack_rows(Int32(type.rawValue), w.baseAddress!, type.byteCount(elements: columns)!, Int32(Self.rows), Int32(blocks), &out)
        }
        XCTAssertEqual(ok, 1, "\(type.name) packs")
        return out
    }

    func checkPacked(_ type: GGMLType, blocks: Int, rawBytes: Bool, seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let columns = blocks * 32, maxTokens = 9
        let weights = KernelFixtures.weights(type, rows: Self.rows, columns: columns, rawBytes: rawBytes, using: &g)
        let x = KernelFixtures.activations(blocks: maxTokens * blocks, using: &g)
        let rows = (0 ..< Self.rows).map { KernelFixtures.dequantizedRow(type, weights, row: $0, columns: columns) }
        let want = (0 ..< maxTokens).map { t in
            let values = KernelFixtures.values(x[t * blocks ..< (t + 1) * blocks])
            return rows.map { KernelFixtures.referenceDot($0, values) }
        }
        let packedRows = packed(type, weights, columns: columns)
        // An even and an odd row range: decode takes rows in pairs, then a single.
        for level in [Int32(M3_LEVEL_AVX512), Int32(M3_LEVEL_SCALAR)] {
            m3_kernels_limit_level(level)
            for rowRange in Self.rowRanges {
                for tokens in 1 ... maxTokens {
                    var y = [Float](repeating: Self.untouched, count: tokens * Self.stride)
                    withSplit(x) { split in
                        packedRows.withUnsafeBytes { p in
                            m3_matmul_packed(Int32(type.rawValue), p.baseAddress!, Int32(blocks), Int32(rowRange.lowerBound),
                                             Int32(rowRange.upperBound), split, Int32(tokens), &y, Self.stride)
                        }
                    }
                    assertMatmulOutput(y, want: want, tokens: tokens, rowRange: rowRange, stride: Self.stride, untouched: Self.untouched,
                                       "\(type.name) \(blocks) blocks, rows \(rowRange), \(tokens) tokens, level \(m3_kernels_level())")
                }
            }
        }
    }

    func testPackedMatmulMatchesTheReferenceOnEveryPathAndGroupTail() throws {
        for type in KernelTypes.packable {
            for blocks in Self.blockCounts {
                checkPacked(type, blocks: blocks, rawBytes: false, seed: UInt64(900 * blocks) + UInt64(type.rawValue))
                checkPacked(type, blocks: blocks, rawBytes: true, seed: UInt64(700 * blocks) + UInt64(type.rawValue))
            }
        }
    }

    func testPackingKeepsEveryWeightAndRowBytes() {
        XCTAssertEqual(m3_packed_row_bytes(Int32(GGMLType.q4_1.rawValue), 18), 18 * 20)
        XCTAssertEqual(m3_packed_row_bytes(Int32(GGMLType.q4_0.rawValue), 18), 18 * 20)
        XCTAssertEqual(m3_packed_row_bytes(Int32(GGMLType.q8_0.rawValue), 18), 18 * 36)
        XCTAssertEqual(m3_packed_row_bytes(Int32(GGMLType.q4_K.rawValue), 8), 0)
        var out = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(m3_pack_rows(Int32(GGMLType.q4_K.rawValue), out, 144, 1, 8, &out), 0, "no packed form for K-quants")
    }

    /// A Q8_0 scale whose m = -128 d would not fit fp16 refuses to pack (the matrix then stays in
    /// the GGML layout) instead of packing wrong numbers.
    func testAScaleThatCannotCarryItsOffsetRefusesToPack() {
        var block = [UInt8](repeating: 1, count: 34)
        let big = Float16(1000).bitPattern  // -128 * 1000 is beyond fp16's 65504
        block[0] = UInt8(big & 0xff)
        block[1] = UInt8(big >> 8)
        var out = [UInt8](repeating: 0, count: 36)
        XCTAssertEqual(m3_pack_rows(Int32(GGMLType.q8_0.rawValue), block, 34, 1, 1, &out), 0)
    }

    func testPackingIsOfferedExactlyWhenTheCPUHasAVX512VNNI() {
        let best = m3_kernels_level()
        XCTAssertEqual(m3_packs_type(Int32(GGMLType.q4_1.rawValue)), best >= Int32(M3_LEVEL_AVX512) ? 1 : 0)
        m3_kernels_limit_level(Int32(M3_LEVEL_AVX2))
        XCTAssertEqual(m3_packs_type(Int32(GGMLType.q4_1.rawValue)), 0)
    }
}
