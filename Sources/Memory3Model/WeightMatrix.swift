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

    init(file: GGUFFile, name: String, columns: Int, rows: Int, arena: PackedWeightArena) throws {
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
        self.packed = usesQuantizedKernel ? PackedRows(type: info.type, rows: self.base, rowBytes: rowBytes, rowCount: rows, columns: columns, arena: arena) : nil
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
        if packed != nil {
            let split = Self.quantizeForPacked(x, count: tokens * columns, blocks: blocks)
            Parallel.forChunks(of: rows, threads: threads, alignment: PackedRows.panelRows) { range in
                self.multiplyPacked(rows: range, split, tokens: tokens, into: y)
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

    /// The input as the packed kernels read it: 8-bit blocks, split into arrays.
    static func quantizeForPacked(_ x: UnsafePointer<Float>, count: Int, blocks: ActivationBuffers) -> m3_q8_rows {
        m3_quantize_q8(x, Int32(count), blocks.blocks)
        return blocks.split(count: count / 32)
    }

    /// Rows `rows` of the product with the packed rows (`packed` must be set).
    func multiplyPacked(rows range: Range<Int>, _ split: m3_q8_rows, tokens: Int, into y: UnsafeMutablePointer<Float>) {
        m3_matmul_packed(Int32(type.rawValue), packed!.base, Int32(columns / 32), Int32(range.lowerBound), Int32(range.upperBound),
                         split, Int32(tokens), y, rows)
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

/// A weight matrix's rows in the packed layout of the AVX-512 kernels, in its model's
/// `PackedWeightArena` (huge pages where the system gives them).
final class PackedRows: @unchecked Sendable {
    /// Rows per panel of the packed layout: row ranges on multiples of it read each panel once.
    static let panelRows = Int(M3_PACKED_PANEL_ROWS)
    let base: UnsafeMutableRawPointer
    let byteCount: Int
    /// Keeps the memory mapped while these rows live.
    private let allocation: PackedWeightArena.Allocation

    /// Packs the rows, or nil when the CPU or the type has no packed kernel (then the GGUF layout
    /// serves).
    init?(type: GGMLType, rows: UnsafeRawPointer, rowBytes: Int, rowCount: Int, columns: Int, arena: PackedWeightArena) {
        let kernelType = Int32(type.rawValue), blocks = Int32(columns / 32)
        guard m3_packs_type(kernelType) != 0 else { return nil }
        byteCount = m3_packed_bytes(kernelType, Int32(rowCount), blocks)
        guard let allocation = arena.allocate(byteCount) else { return nil }
        self.allocation = allocation
        base = allocation.base
        // (m3_pack_rows refuses only a type without a packed form, checked above.)
        guard m3_pack_rows(kernelType, rows, rowBytes, Int32(rowCount), blocks, base) != 0 else { return nil }
    }
}

/// Two or three matrices over the same input (a layer's query, key and value; gate and up), made
/// once at load. When all have packed rows of the same width, the input is quantized once and one
/// parallel loop covers all their rows, so a decode step has one fork/join where it had one per
/// matrix (30 layers x 3 fewer per token for SmolLM2); otherwise each multiplies in turn. Each
/// product is the same, bit for bit, as its own `multiply` (the same kernel over the same rows).
/// Measured: decode +2.5-3% (SmolLM2, 2 threads, tokens interleaved with and without).
struct MatrixGroup: Sendable {
    let first: WeightMatrix
    let second: WeightMatrix
    let third: WeightMatrix?
    /// Whether one quantized input and one parallel loop serve them all.
    let fused: Bool

    init(_ first: WeightMatrix, _ second: WeightMatrix, _ third: WeightMatrix? = nil) {
        (self.first, self.second, self.third) = (first, second, third)
        fused = [first, second, third].allSatisfy { m in
            m.map { $0.packed != nil && $0.columns == first.columns } ?? true
        }
    }

    /// first · x into `a`, second · x into `b`, third · x into `c` (given when `third` is).
    func multiply(_ x: UnsafePointer<Float>, tokens: Int, into a: UnsafeMutablePointer<Float>, _ b: UnsafeMutablePointer<Float>,
                  _ c: UnsafeMutablePointer<Float>? = nil, blocks: ActivationBuffers, threads: Int) {
        guard fused else {
            first.multiply(x, tokens: tokens, into: a, blocks: blocks, threads: threads)
            second.multiply(x, tokens: tokens, into: b, blocks: blocks, threads: threads)
            if let third, let c { third.multiply(x, tokens: tokens, into: c, blocks: blocks, threads: threads) }
            return
        }
        let split = WeightMatrix.quantizeForPacked(x, count: tokens * first.columns, blocks: blocks)
        let secondEnd = first.rows + second.rows, total = secondEnd + (third?.rows ?? 0)
        // Chunks end on whole panels of each matrix when the matrices' row counts are multiples of
        // a panel (every model here); otherwise a panel split between chunks is read by both.
        Parallel.forChunks(of: total, threads: threads, alignment: PackedRows.panelRows) { range in
            // The chunk's part of each matrix's rows (the matrices' rows laid end to end).
            func part(_ m: WeightMatrix, from start: Int, into y: UnsafeMutablePointer<Float>) {
                let lower = max(range.lowerBound, start) - start, upper = min(range.upperBound, start + m.rows) - start
                if lower < upper { m.multiplyPacked(rows: lower ..< upper, split, tokens: tokens, into: y) }
            }
            part(first, from: 0, into: a)
            part(second, from: first.rows, into: b)
            if let third, let c { part(third, from: secondEnd, into: c) }
        }
    }
}

/// A layer's matrix groups: query/key/value and gate/up.
struct LayerMatrixGroups: Sendable {
    let queryKeyValue: MatrixGroup
    let gateUp: MatrixGroup
}
