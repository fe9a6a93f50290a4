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
    }

    @inline(__always)
    func row(_ r: Int) -> UnsafeRawPointer { base + r * rowBytes }

    /// Writes row `r` as floats into `out` (which holds `columns` floats).
    @inline(__always)
    func dequantizeRow(_ r: Int, into out: UnsafeMutablePointer<Float>) {
        let p = row(r)
        switch type {
        case .q4_1: RowKernels.dequantizeQ4_1(p, blocks: columns / 32, into: out)
        case .q8_0: RowKernels.dequantizeQ8_0(p, blocks: columns / 32, into: out)
        case .q4_0: RowKernels.dequantizeQ4_0(p, blocks: columns / 32, into: out)
        default: Dequantize.run(type, from: p, count: columns, into: out)
        }
    }

    /// y[t * rows + r] = dot(row r, x[t * columns ..< (t + 1) * columns]) for t in 0..<tokens,
    /// rows split across threads.
    func multiply(_ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>, threads: Int) {
        Parallel.forChunks(of: rows, threads: threads) { range in
            self.multiplyRows(range, x, tokens: tokens, into: y)
        }
    }

    func multiplyRows(_ range: Range<Int>, _ x: UnsafePointer<Float>, tokens: Int, into y: UnsafeMutablePointer<Float>) {
        if tokens == 1 {
            // Decode: fused dequantize-and-dot, reading each weight once.
            switch type {
            case .q4_1:
                for r in range { y[r] = RowKernels.dotQ4_1(row(r), x, blocks: columns / 32) }
                return
            case .q8_0:
                for r in range { y[r] = RowKernels.dotQ8_0(row(r), x, blocks: columns / 32) }
                return
            default: break
            }
        }
        // Prefill (or other types): dequantize a row once, then reuse it for every token.
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
