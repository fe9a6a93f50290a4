import CKernels

/// A fixed orthogonal rotation of a head-dimension vector: random signs, then the normalised
/// Walsh-Hadamard transform (QuaRot, QuIP#). Rotating keys and values before low-bit quantization
/// spreads an outlier dimension over all of them, so a group's range is set by the typical value
/// and not by its largest one; attention scores are unchanged in exact arithmetic because the
/// rotation is undone after decoding. The signs are part of the stored format: never change them.
enum HadamardRotation {
    /// The transform's size for vectors of `dim`: the largest power of two dividing it (all of a
    /// 64- or 256-dim head; a 48-dim vector is rotated as three blocks of 16).
    static func blockSize(_ dim: Int) -> Int { dim & -dim }

    /// The sign of dimension `i`: bit 0 of splitmix64(i), a fixed pseudo-random pattern.
    @inline(__always)
    static func sign(_ i: Int) -> Float {
        var z = UInt64(i) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return z & 1 == 0 ? 1 : -1
    }

    /// x <- H D x / sqrt(n), block by block, for the `count` vectors of `dim` floats at `x`.
    static func rotate(_ x: UnsafeMutablePointer<Float>, count: Int, dim: Int) {
        let n = blockSize(dim), scale = 1 / Float(n).squareRoot()
        let signs = (0 ..< dim).map(sign), scales = [Float](repeating: scale, count: dim)
        m3_hadamard_rows(x, count, Int32(dim), Int32(n), signs, scales)
    }

    /// The inverse: x <- D H x / sqrt(n) (H is symmetric and H H = n I).
    static func unrotate(_ x: UnsafeMutablePointer<Float>, count: Int, dim: Int) {
        let n = blockSize(dim), scale = 1 / Float(n).squareRoot()
        m3_hadamard_rows(x, count, Int32(dim), Int32(n), nil, (0 ..< dim).map { sign($0) * scale })
    }
}
