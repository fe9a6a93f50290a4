import CKernels
import GGUF
import XCTest

/// Packed weights (CKernels.h): m3_pack_rows + m3_matmul_packed on the AVX-512 path and the
/// scalar one, against the Double reference over the GGML rows (tolerance 1e-5 of the sum of
/// |products|, as for m3_matmul), for block counts 1-7, 18 and 48, 1...9
/// tokens and row ranges inside the matrix; and on 37 rows (two panels of 16 and a short one),
/// ranges that cut panels, token counts that fill 16-token passes and leave a rest.
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
        var sums = [Int32](repeating: 0, count: x.count)
        return q.withUnsafeMutableBufferPointer { qb in d.withUnsafeMutableBufferPointer { db in s.withUnsafeMutableBufferPointer { sb in
            sums.withUnsafeMutableBufferPointer { cb in
                let rows = m3_q8_rows(q: qb.baseAddress, d: db.baseAddress, s: sb.baseAddress, sum: cb.baseAddress)
                m3_split_q8(x, Int32(x.count), rows)
                return body(rows)
            }
        } } }
    }

    func packed(_ type: GGMLType, _ weights: [UInt8], columns: Int, rows: Int = rows) -> [UInt8] {
        let blocks = columns / 32
        var out = [UInt8](repeating: 0, count: m3_packed_bytes(Int32(type.rawValue), Int32(rows), Int32(blocks)))
        let ok = weights.withUnsafeBytes { w in
            m3_pack_rows(Int32(type.rawValue), w.baseAddress!, type.byteCount(elements: columns)!, Int32(rows), Int32(blocks), &out)
        }
        XCTAssertEqual(ok, 1, "\(type.name) packs")
        return out
    }

    func checkPacked(_ type: GGMLType, blocks: Int, rawBytes: Bool, seed: UInt64, rows matrixRows: Int = rows,
                     rowRanges: [Range<Int>] = rowRanges, tokenCounts: [Int] = Array(1 ... 9)) {
        var g = SeededGenerator(seed: seed)
        let columns = blocks * 32, maxTokens = tokenCounts.max()!, stride = matrixRows + 1
        let weights = KernelFixtures.weights(type, rows: matrixRows, columns: columns, rawBytes: rawBytes, using: &g)
        let x = KernelFixtures.activations(blocks: maxTokens * blocks, using: &g)
        let rows = (0 ..< matrixRows).map { KernelFixtures.dequantizedRow(type, weights, row: $0, columns: columns) }
        let want = (0 ..< maxTokens).map { t in
            let values = KernelFixtures.values(x[t * blocks ..< (t + 1) * blocks])
            return rows.map { KernelFixtures.referenceDot($0, values) }
        }
        let packedRows = packed(type, weights, columns: columns, rows: matrixRows)
        // Ranges inside one panel of 16 rows (the others are computed and not stored).
        for level in [Int32(M3_LEVEL_AVX512), Int32(M3_LEVEL_SCALAR)] {
            for rowRange in rowRanges {
                for tokens in tokenCounts {
                    let y = product(type, packedRows, blocks: blocks, rows: rowRange, x[...], tokens: tokens, level: level, stride: stride,
                                    initial: Self.untouched)
                    assertMatmulOutput(y, want: want, tokens: tokens, rowRange: rowRange, stride: stride, untouched: Self.untouched,
                                       "\(type.name) \(blocks) blocks, rows \(rowRange), \(tokens) tokens, level \(m3_kernels_level())")
                }
            }
        }
    }

    func testPanelsOfSixteenRowsMatchTheReferenceForManyTokens() throws {
        for type in KernelTypes.packable {
            for blocks in [1, 3, 18] {
                checkPacked(type, blocks: blocks, rawBytes: false, seed: UInt64(500 * blocks) + UInt64(type.rawValue), rows: 37,
                            rowRanges: [0 ..< 37, 3 ..< 35, 16 ..< 32, 5 ..< 21], tokenCounts: [15, 16, 17, 33])
            }
        }
    }

    /// Runs m3_matmul_packed on `packed` at `level` for `tokens` tokens of `x` over `rows`, into an
    /// output filled with `initial` first.
    func product(_ type: GGMLType, _ packed: [UInt8], blocks: Int, rows: Range<Int>, _ x: ArraySlice<m3_block_q8>, tokens: Int,
                 level: Int32, stride: Int, initial: Float = 0) -> [Float] {
        m3_kernels_limit_level(level)
        var y = [Float](repeating: initial, count: tokens * stride)
        withSplit(Array(x)) { split in
            packed.withUnsafeBytes { p in
                m3_matmul_packed(Int32(type.rawValue), p.baseAddress!, Int32(blocks), Int32(rows.lowerBound), Int32(rows.upperBound),
                                 split, Int32(tokens), &y, stride)
            }
        }
        return y
    }

    /// A token's outputs are the same bits whether it is decoded alone or read with 19 others, over
    /// the whole matrix or a range that cuts panels, on the AVX-512 kernel or the scalar one: a
    /// batch gives every sequence what it gets alone.
    func testATokensOutputsDoNotDependOnBatchRangeOrKernel() throws {
        for type in KernelTypes.packable {
            let blocks = 18, rows = 40, tokens = 20
            var g = SeededGenerator(seed: 77 + UInt64(type.rawValue))
            let weights = KernelFixtures.weights(type, rows: rows, columns: blocks * 32, rawBytes: false, using: &g)
            let x = KernelFixtures.activations(blocks: tokens * blocks, using: &g)
            let packedRows = packed(type, weights, columns: blocks * 32, rows: rows)
            let all = product(type, packedRows, blocks: blocks, rows: 0 ..< rows, x[...], tokens: tokens, level: Int32(M3_LEVEL_AVX512), stride: rows)
            for t in [0, 7, 19] {
                let alone = x[t * blocks ..< (t + 1) * blocks]
                let expected = Array(all[t * rows ..< (t + 1) * rows]).map(\.bitPattern)
                for level in [Int32(M3_LEVEL_AVX512), Int32(M3_LEVEL_SCALAR)] {
                    let one = product(type, packedRows, blocks: blocks, rows: 0 ..< rows, alone, tokens: 1, level: level, stride: rows)
                    XCTAssertEqual(one.map(\.bitPattern), expected, "\(type.name) token \(t) alone, level \(level)")
                    let cut = product(type, packedRows, blocks: blocks, rows: 5 ..< 27, alone, tokens: 1, level: level, stride: rows)
                    XCTAssertEqual(cut[5 ..< 27].map(\.bitPattern), Array(expected[5 ..< 27]), "\(type.name) token \(t), rows 5..<27, level \(level)")
                }
            }
        }
    }

    func testPackedMatmulMatchesTheReferenceOnEveryPathAndBlockCount() throws {
        for type in KernelTypes.packable {
            for blocks in Self.blockCounts {
                checkPacked(type, blocks: blocks, rawBytes: false, seed: UInt64(900 * blocks) + UInt64(type.rawValue))
                checkPacked(type, blocks: blocks, rawBytes: true, seed: UInt64(700 * blocks) + UInt64(type.rawValue))
            }
        }
    }

    func testPackingKeepsEveryWeightAndRowBytes() {
        // Whole panels of 16 rows, as many bytes per row and block as GGUF's.
        XCTAssertEqual(m3_packed_bytes(Int32(GGMLType.q4_1.rawValue), 16, 18), 16 * 18 * 20)
        XCTAssertEqual(m3_packed_bytes(Int32(GGMLType.q4_1.rawValue), 17, 18), 32 * 18 * 20)
        XCTAssertEqual(m3_packed_bytes(Int32(GGMLType.q4_0.rawValue), 1, 18), 16 * 18 * 18)
        XCTAssertEqual(m3_packed_bytes(Int32(GGMLType.q5_0.rawValue), 16, 2), 16 * 2 * 22)
        XCTAssertEqual(m3_packed_bytes(Int32(GGMLType.q5_1.rawValue), 16, 2), 16 * 2 * 24)
        XCTAssertEqual(m3_packed_bytes(Int32(GGMLType.q8_0.rawValue), 48, 18), 48 * 18 * 34)
        XCTAssertEqual(m3_packed_bytes(Int32(GGMLType.q4_K.rawValue), 16, 8), 0)
        var out = [UInt8](repeating: 0, count: 64)
        XCTAssertEqual(m3_pack_rows(Int32(GGMLType.q4_K.rawValue), out, 144, 1, 8, &out), 0, "no packed form for K-quants")
    }

    /// A Q8_0 block whose scale is too large for m = -128 d in fp16 packs and multiplies right:
    /// the offset comes off in integers, not through a stored m.
    func testALargeQ8ScalePacksAndMultipliesExactly() {
        var block = [UInt8](repeating: 0, count: 34)
        let big = Float16(1000).bitPattern  // -128 * 1000 is beyond fp16's 65504
        block[0] = UInt8(big & 0xff)
        block[1] = UInt8(big >> 8)
        for i in 0 ..< 32 { block[2 + i] = UInt8(bitPattern: Int8(i - 16)) }
        var out = [UInt8](repeating: 0, count: m3_packed_bytes(Int32(GGMLType.q8_0.rawValue), 1, 1))
        XCTAssertEqual(m3_pack_rows(Int32(GGMLType.q8_0.rawValue), block, 34, 1, 1, &out), 1)
        var x = m3_block_q8()
        x.d = 0.5
        withUnsafeMutableBytes(of: &x.q) { q in for i in 0 ..< 32 { q[i] = UInt8(bitPattern: Int8(i % 5 - 2)) } }
        let codes: [Int] = (0 ..< 32).map { $0 % 5 - 2 }
        x.s = x.d * Float(codes.reduce(0, +))
        var dot = 0
        for i in 0 ..< 32 { dot += (i - 16) * codes[i] }
        let want: Float = 1000 * 0.5 * Float(dot)
        for level in [Int32(M3_LEVEL_AVX512), Int32(M3_LEVEL_SCALAR)] {
            let y = product(.q8_0, out, blocks: 1, rows: 0 ..< 1, [x][...], tokens: 1, level: level, stride: 1)
            XCTAssertEqual(y[0], want, "level \(level)")
        }
    }

    func testPackingIsOfferedExactlyWhenTheCPUHasAVX512VNNI() {
        let best = m3_kernels_level()
        XCTAssertEqual(m3_packs_type(Int32(GGMLType.q4_1.rawValue)), best >= Int32(M3_LEVEL_AVX512) ? 1 : 0)
        m3_kernels_limit_level(Int32(M3_LEVEL_AVX2))
        XCTAssertEqual(m3_packs_type(Int32(GGMLType.q4_1.rawValue)), 0)
    }
}
