import CKernels
import GGUF

/// A weight matrix read in place from the GGUF mapping: `rows` outputs by `columns` inputs, each
/// row a run of GGML blocks (GGUF shape [columns, rows]).
struct WeightMatrix: @unchecked Sendable {
    let name: String
    let type: GGMLType
    let rows: Int
    let columns: Int
    let base: UnsafeRawPointer
    let rowBytes: Int
    /// Whether the C kernels multiply this type (against 8-bit activation blocks, as GGML does).
    let usesQuantizedKernel: Bool
    /// The rows rearranged for the AVX-512 kernels (CKernels.h, "Packed weights"), when the CPU
    /// has them and the type has a packed form; the GGUF bytes stay for `dequantizeRow`.
    let packed: PackedRows?

    init(file: GGUFFile, name: String, columns: Int, rows: Int) throws {
        guard let info = file.tensor(named: name) else { throw ModelError.file(.missingTensor(name)) }
        let expected = rows == 1 ? [columns] : [columns, rows]
        guard info.dimensions == expected || (rows == 1 && info.dimensions == [columns, 1]) else {
            throw ModelError.file(.wrongTensorShape(tensor: name, expected: expected, found: info.dimensions))
        }
        self.name = name
        self.type = info.type
        self.rows = rows
        self.columns = columns
        self.base = file.data(of: info).baseAddress!
        self.rowBytes = info.type.byteCount(elements: columns)!
        self.usesQuantizedKernel = m3_supports_type(Int32(info.type.rawValue)) != 0 && columns % 32 == 0
        self.packed = usesQuantizedKernel ? PackedRows(type: info.type, rows: self.base, rowBytes: rowBytes, rowCount: rows, columns: columns) : nil
        // The packed copy is what the products read: the mapped pages can go (a row that
        // `dequantizeRow` needs later, e.g. an embedding, is read from the file again).
        if packed != nil { file.releasePages(of: info) }
    }

    @inline(__always)
    func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }

    /// Writes row `r` as floats into `out` (which holds `columns` floats).
    @inline(__always)
    func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        Dequantize.run(type, from: row(r), count: columns, into: out)
    }

    /// y[t * rows + r] = dot(row r, x[t * columns ..< (t + 1) * columns]) for t in 0..<tokens,
    /// rows split across threads. `blocks` holds tokens * columns / 32 activation blocks.
    func multiply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>,
                  blocks: ActivationBuffers, threads: Int) {
        if let packed {
            m3_quantize_q8(x, Int32(tokens * columns), blocks.blocks)
            let split = blocks.split(count: tokens * columns / 32)
            let type = Int32(self.type.rawValue), perRow = Int32(columns / 32)
            Parallel.forChunks(of: rows, threads: threads) { range in
                m3_matmul_packed(type, packed.base, perRow, Int32(range.lowerBound), Int32(range.upperBound),
                                 split, Int32(tokens), y, self.rows)
            }
        } else if usesQuantizedKernel {
            if type.blockSize == 256 {
                // K-quants: GGML multiplies them with Q8_K activations (one scale per 256).
                m3_quantize_q8_k(x, Int32(tokens * columns), blocks.blocks)
            } else {
                m3_quantize_q8(x, Int32(tokens * columns), blocks.blocks)
            }
            let type = Int32(self.type.rawValue), perRow = Int32(columns / 32)
            Parallel.forChunks(of: rows, threads: threads) { range in
                m3_matmul(type, self.base, self.rowBytes, Int32(range.lowerBound), Int32(range.upperBound),
                          blocks.blocks, perRow, Int32(tokens), y, self.rows)
            }
        } else {
            Parallel.forChunks(of: rows, threads: threads) { range in
                self.multiplyRowsInFloat(range, x, tokens: tokens, into: y)
            }
        }
    }

    /// Several matrices over the same input (a layer's query, key and value; gate and up): when
    /// all have packed rows, the input is quantized once and one parallel loop covers all their
    /// rows, so a decode step has one fork/join where it had one per matrix (30 layers x 5 fewer
    /// per token for SmolLM2). Otherwise each multiplies in turn. Each product is the same, bit
    /// for bit, as its own `multiply` (the same kernel over the same rows). Measured: decode
    /// +2.5-3% (SmolLM2, 2 threads, tokens interleaved with and without).
    static func multiply(_ matrices: [(matrix: WeightMatrix, into: UnsafeMutablePointer<Float>)], _ x: UnsafePointer<Float>,
                         tokens: Int, blocks: ActivationBuffers, threads: Int) {
        guard let columns = matrices.first?.matrix.columns,
              matrices.allSatisfy({ $0.matrix.packed != nil && $0.matrix.columns == columns }) else {
            for (matrix, y) in matrices { matrix.multiply(x, tokens: tokens, into: y, blocks: blocks, threads: threads) }
            return
        }
        m3_quantize_q8(x, Int32(tokens * columns), blocks.blocks)
        let split = blocks.split(count: tokens * columns / 32)
        let perRow = Int32(columns / 32)
        let totalRows = matrices.reduce(0) { $0 + $1.matrix.rows }
        Parallel.forChunks(of: totalRows, threads: threads) { range in
            var first = 0
            for (matrix, y) in matrices {
                let lower = max(range.lowerBound, first), upper = min(range.upperBound, first + matrix.rows)
                if lower < upper {
                    m3_matmul_packed(Int32(matrix.type.rawValue), matrix.packed!.base, perRow, Int32(lower - first),
                                     Int32(upper - first), split, Int32(tokens), y, matrix.rows)
                }
                first += matrix.rows
            }
        }
    }

    /// The path for types without a C kernel (F32, F16, BF16, K-quants): dequantize a row once,
    /// then reuse it for every token.
    func multiplyRowsInFloat(_ range: Range<Int>, _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>) {
        withUnsafeTemporaryAllocation(of: Float.self, capacity: columns) { scratch in
            let w = scratch.baseAddress!
            for r in range {
                dequantizeRow(r, into: w)
                for t in 0 ..< tokens {
                    y[t * rows + r] = RowKernels.dot(w, x + t * columns, count: columns)
                }
            }
        }
    }
}

/// A weight matrix's rows in the packed layout of the AVX-512 kernels, in memory of their own.
final class PackedRows: @unchecked Sendable {
    let base: UnsafeMutableRawPointer
    let byteCount: Int

    /// Packs the rows, or nil when the CPU or the type has no packed kernel (or a scale cannot be
    /// carried over; then the GGUF layout serves).
    init?(type: GGMLType, rows: UnsafeRawPointer, rowBytes: Int, rowCount: Int, columns: Int) {
        let kernelType = Int32(type.rawValue), blocks = Int32(columns / 32)
        guard m3_packs_type(kernelType) != 0 else { return nil }
        byteCount = m3_packed_row_bytes(kernelType, blocks) * rowCount
        base = .allocate(byteCount: byteCount, alignment: 64)
        guard m3_pack_rows(kernelType, rows, rowBytes, Int32(rowCount), blocks, base) != 0 else {
            base.deallocate()
            return nil
        }
    }

    deinit { base.deallocate() }
}
