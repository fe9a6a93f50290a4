/// Reference conversion of GGML tensor blocks to Float32, one scalar loop per type, written in
/// the order of GGML's block layouts. It is the oracle for the fast kernels, and the path for
/// small tensors (norms) and for types the fast kernels do not cover.
public enum Dequantize {
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Converts `count` elements (a whole number of blocks) starting at `src`.
    public static func run(_ type: GGMLType, from src: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
        let blocks = count / type.blockSize
        let bb = type.blockBytes
        switch type {
        case .f32:
            for i in 0 ..< count { dst[i] = src.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            for i in 0 ..< count { dst[i] = half(src, 2 * i) }
        case .bf16:
            for i in 0 ..< count {
                dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
            }
        case .q4_0:
            for b in 0 ..< blocks { q4_0(src + b * bb, dst + b * 32) }
        case .q4_1:
            for b in 0 ..< blocks { q4_1(src + b * bb, dst + b * 32) }
        case .q5_0:
            for b in 0 ..< blocks { q5_0(src + b * bb, dst + b * 32) }
        case .q5_1:
            for b in 0 ..< blocks { q5_1(src + b * bb, dst + b * 32) }
        case .q8_0:
            for b in 0 ..< blocks { q8_0(src + b * bb, dst + b * 32) }
        case .iq4_nl:
            for b in 0 ..< blocks { iq4_nl(src + b * bb, dst + b * 32) }
        case .q2_K:
            for b in 0 ..< blocks { q2_K(src + b * bb, dst + b * 256) }
        case .q3_K:
            for b in 0 ..< blocks { q3_K(src + b * bb, dst + b * 256) }
        case .q4_K:
            for b in 0 ..< blocks { q4_K(src + b * bb, dst + b * 256) }
        case .q5_K:
            for b in 0 ..< blocks { q5_K(src + b * bb, dst + b * 256) }
        case .q6_K:
            for b in 0 ..< blocks { q6_K(src + b * bb, dst + b * 256) }
        }
    }

    /// Q4_0: fp16 d; 16 bytes; element j is low nibble of byte j, element j+16 the high nibble; (q-8)*d.
    static func q4_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        let qs = p + 2
        for j in 0 ..< 16 {
            let byte = qs.load(fromByteOffset: j, as: UInt8.self)
            y[j] = Float(Int(byte & 0x0F) - 8) * d
            y[j + 16] = Float(Int(byte >> 4) - 8) * d
        }
    }

    /// Q4_1: fp16 d, fp16 m; nibbles as Q4_0; q*d + m.
    static func q4_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        let qs = p + 4
        for j in 0 ..< 16 {
            let byte = qs.load(fromByteOffset: j, as: UInt8.self)
            y[j] = Float(byte & 0x0F) * d + m
            y[j + 16] = Float(byte >> 4) * d + m
        }
    }

    /// The fifth bits of a Q5 block: bit j of the little-endian 32-bit `qh` is element j's.
    @inline(__always)
    static func q5Codes(_ qh: UnsafeRawPointer, _ qs: UnsafeRawPointer, _ body: (_ j: Int, _ low: Int, _ high: Int) -> Void) {
        let bits = qh.loadUnaligned(as: UInt32.self).littleEndian
        for j in 0 ..< 16 {
            let byte = qs.load(fromByteOffset: j, as: UInt8.self)
            let low = Int(byte & 0x0F) | Int((bits >> UInt32(j)) & 1) << 4
            let high = Int(byte >> 4) | Int((bits >> UInt32(j + 16)) & 1) << 4
            body(j, low, high)
        }
    }

    /// Q5_0: fp16 d; 4 bytes qh; 16 bytes of nibbles (as Q4_0); (q-16)*d with q = nibble | fifth bit << 4.
    static func q5_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        q5Codes(p + 2, p + 6) { j, low, high in
            y[j] = Float(low - 16) * d
            y[j + 16] = Float(high - 16) * d
        }
    }

    /// Q5_1: fp16 d, fp16 m; 4 bytes qh; 16 bytes of nibbles; q*d + m.
    static func q5_1(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), m = half(p, 2)
        q5Codes(p + 4, p + 8) { j, low, high in
            y[j] = Float(low) * d + m
            y[j + 16] = Float(high) * d + m
        }
    }

    /// Q8_0: fp16 d; 32 int8; q*d.
    static func q8_0(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0 ..< 32 { y[j] = Float(p.load(fromByteOffset: 2 + j, as: Int8.self)) * d }
    }

    /// IQ4_NL's code book: a 4-bit code picks one of these 16 values (times the block's d).
    public static let iq4nlValues: [Int8] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113]

    /// IQ4_NL: fp16 d; 16 bytes of nibbles as Q4_0; table[code] * d.
    static func iq4_nl(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0)
        for j in 0 ..< 16 {
            let byte = p.load(fromByteOffset: 2 + j, as: UInt8.self)
            y[j] = d * Float(iq4nlValues[Int(byte & 0x0F)])
            y[j + 16] = d * Float(iq4nlValues[Int(byte >> 4)])
        }
    }

    /// Q2_K: 16 bytes of scales (low nibble: scale, high: min, one per 16 elements), 64 bytes of
    /// 2-bit codes, fp16 d, fp16 dmin. Two halves of 128; in half n, four shifts 0, 2, 4, 6 of the
    /// bytes qs[32n ..< 32n + 16] then qs[32n + 16 ..< 32n + 32] give 16 elements each.
    static func q2_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 80), dmin = half(p, 82)
        var out = y
        var scale = 0
        for n in 0 ..< 2 {
            let q = p + 16 + 32 * n
            for shift in stride(from: 0, to: 8, by: 2) {
                for part in 0 ..< 2 {
                    let sc = p.load(fromByteOffset: scale, as: UInt8.self)
                    scale += 1
                    let dl = d * Float(sc & 0x0F), ml = dmin * Float(sc >> 4)
                    for l in 0 ..< 16 {
                        let code = (q.load(fromByteOffset: 16 * part + l, as: UInt8.self) >> UInt8(shift)) & 3
                        out[l] = dl * Float(code) - ml
                    }
                    out += 16
                }
            }
        }
    }

    /// The 16 signed 6-bit scales of a Q3_K superblock, packed in 12 bytes (GGML's kmask decode).
    static func q3KScales(_ p: UnsafeRawPointer) -> [Int] {
        let b = (0 ..< 12).map { p.load(fromByteOffset: $0, as: UInt8.self) }
        return (0 ..< 16).map { j in
            let low = j < 8 ? (b[j] & 0x0F) : (b[j - 8] >> 4)
            let high = (b[8 + j % 4] >> UInt8(2 * (j / 4))) & 3
            return Int(low | high << 4) - 32
        }
    }

    /// Q3_K: 32 bytes of high bits, 64 bytes of 2-bit codes, 12 bytes of scales, fp16 d. As Q2_K's
    /// layout, each code minus 4 unless its high bit (bit b of hmask[l], b = the 32-element block) is set.
    static func q3_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 108)
        let scales = q3KScales(p + 96)
        var out = y
        var scale = 0
        for n in 0 ..< 2 {
            let q = p + 32 + 32 * n
            for (k, shift) in stride(from: 0, to: 8, by: 2).enumerated() {
                let bit = UInt8(1) << UInt8(4 * n + k)
                for part in 0 ..< 2 {
                    let dl = d * Float(scales[scale])
                    scale += 1
                    for l in 0 ..< 16 {
                        let code = Int((q.load(fromByteOffset: 16 * part + l, as: UInt8.self) >> UInt8(shift)) & 3)
                        let high = p.load(fromByteOffset: 16 * part + l, as: UInt8.self) & bit
                        out[l] = dl * Float(code - (high != 0 ? 0 : 4))
                    }
                    out += 16
                }
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0..<8) packed in 12 bytes (K-quants).
    @inline(__always)
    static func scaleMinK4(_ j: Int, _ q: UnsafeRawPointer) -> (Float, Float) {
        func b(_ i: Int) -> UInt8 { q.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 {
            return (Float(b(j) & 63), Float(b(j + 4) & 63))
        }
        let sc = (b(j + 4) & 0x0F) | ((b(j - 4) >> 6) << 4)
        let m = (b(j + 4) >> 4) | ((b(j) >> 6) << 4)
        return (Float(sc), Float(m))
    }

    /// Q4_K: fp16 d, fp16 dmin, 12 bytes of scales/mins, 128 bytes of nibbles; 8 sub-blocks of 32.
    static func q4_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let scales = p + 4
        var q = p + 16
        var out = y
        for j in stride(from: 0, to: 8, by: 2) {
            let (sc1, m1) = scaleMinK4(j, scales)
            let (sc2, m2) = scaleMinK4(j + 1, scales)
            let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
            for l in 0 ..< 32 {
                let byte = q.load(fromByteOffset: l, as: UInt8.self)
                out[l] = d1 * Float(byte & 0x0F) - min1
                out[l + 32] = d2 * Float(byte >> 4) - min2
            }
            q += 32
            out += 64
        }
    }

    /// Q5_K: as Q4_K with 32 bytes of fifth bits (qh) before the nibbles.
    static func q5_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 0), dmin = half(p, 2)
        let scales = p + 4
        let qh = p + 16
        var ql = p + 48
        var out = y
        var u1: UInt8 = 1, u2: UInt8 = 2
        for j in stride(from: 0, to: 8, by: 2) {
            let (sc1, m1) = scaleMinK4(j, scales)
            let (sc2, m2) = scaleMinK4(j + 1, scales)
            let d1 = d * sc1, min1 = dmin * m1, d2 = d * sc2, min2 = dmin * m2
            for l in 0 ..< 32 {
                let byte = ql.load(fromByteOffset: l, as: UInt8.self)
                let h = qh.load(fromByteOffset: l, as: UInt8.self)
                out[l] = d1 * Float(Int(byte & 0x0F) + (h & u1 != 0 ? 16 : 0)) - min1
                out[l + 32] = d2 * Float(Int(byte >> 4) + (h & u2 != 0 ? 16 : 0)) - min2
            }
            ql += 32
            out += 64
            u1 <<= 2
            u2 <<= 2
        }
    }

    /// Q6_K: 128 bytes low nibbles, 64 bytes high 2-bit pairs, 16 int8 scales, fp16 d; two halves of 128.
    static func q6_K(_ p: UnsafeRawPointer, _ y: UnsafeMutablePointer<Float>) {
        let d = half(p, 208)
        var ql = p
        var qh = p + 128
        var sc = p + 192
        var out = y
        for _ in 0 ..< 2 {
            for l in 0 ..< 32 {
                let s = l / 16
                let lo0 = ql.load(fromByteOffset: l, as: UInt8.self)
                let lo1 = ql.load(fromByteOffset: l + 32, as: UInt8.self)
                let h = qh.load(fromByteOffset: l, as: UInt8.self)
                let q1 = Int((lo0 & 0x0F) | ((h & 3) << 4)) - 32
                let q2 = Int((lo1 & 0x0F) | (((h >> 2) & 3) << 4)) - 32
                let q3 = Int((lo0 >> 4) | (((h >> 4) & 3) << 4)) - 32
                let q4 = Int((lo1 >> 4) | (((h >> 6) & 3) << 4)) - 32
                func scale(_ i: Int) -> Float { Float(sc.load(fromByteOffset: i, as: Int8.self)) }
                out[l] = d * scale(s) * Float(q1)
                out[l + 32] = d * scale(s + 2) * Float(q2)
                out[l + 64] = d * scale(s + 4) * Float(q3)
                out[l + 96] = d * scale(s + 6) * Float(q4)
            }
            out += 128
            ql += 64
            qh += 32
            sc += 8
        }
    }
}
