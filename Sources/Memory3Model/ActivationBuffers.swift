import CKernels

/// Scratch for activations quantized to 8-bit blocks: GGML-style blocks for the kernels that read
/// weights in place, and the same split into arrays for packed weights (`m3_q8_rows`).
final class ActivationBuffers: @unchecked Sendable {
    let capacity: Int
    let blocks: UnsafeMutablePointer<m3_block_q8>
    private let codes: UnsafeMutablePointer<Int8>
    private let scales: UnsafeMutablePointer<Float>
    private let sums: UnsafeMutablePointer<Float>
    private let codeSums: UnsafeMutablePointer<Int32>

    /// Room for `capacity` blocks of 32.
    init(capacity: Int) {
        self.capacity = capacity
        blocks = .allocate(capacity: capacity)
        codes = .allocate(capacity: capacity * 32)
        scales = .allocate(capacity: capacity)
        sums = .allocate(capacity: capacity)
        codeSums = .allocate(capacity: capacity)
    }

    deinit {
        blocks.deallocate()
        codes.deallocate()
        scales.deallocate()
        sums.deallocate()
        codeSums.deallocate()
    }

    /// The first `count` blocks, split into arrays for the packed kernels.
    func split(count: Int) -> m3_q8_rows {
        let rows = m3_q8_rows(q: codes, d: scales, s: sums, sum: codeSums)
        m3_split_q8(blocks, Int32(count), rows)
        return rows
    }
}
