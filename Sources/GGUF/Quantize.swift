/// Round-to-nearest conversion of Float32 to GGML block bytes, rounding exactly as GGML's
/// reference quantizers do (`quantize_row_q8_0_ref`, `_q4_0_ref`, `_q4_1_ref`, `_q5_0_ref`,
/// `_q5_1_ref`, and the fp32 to
/// fp16/bf16 conversions), so the files we write hold the bytes llama.cpp would write.
///
/// K-quants (Q4_K, Q5_K, Q6_K) are not supported: their reference quantizers search for scales
/// and mins, which the small files made for tests do not need. Asking for one is a precondition
/// failure, as is a count that is not a whole number of blocks. Non-finite inputs give
/// non-finite scales or arbitrary codes, never a crash.
public enum Quantize {
    public static func blocks(_ floats: [Float], as type: GGMLType) -> [UInt8] {
        precondition(floats.count % type.blockSize == 0,
                     "\(floats.count) floats are not a whole number of \(type.name) blocks of \(type.blockSize)")
        var out: [UInt8] = []
        out.reserveCapacity(floats.count / type.blockSize * type.blockBytes)
        floats.withUnsafeBufferPointer { x in
            switch type {
            case .f32: for v in x { append(v.bitPattern, to: &out) }
            case .f16: for v in x { append(Float16(v).bitPattern, to: &out) }
            case .bf16: for v in x { append(bf16Bits(v), to: &out) }
            case .q8_0: for b in stride(from: 0, to: x.count, by: 32) { q8_0(x[b ..< b + 32], to: &out) }
            case .q4_0: for b in stride(from: 0, to: x.count, by: 32) { q4_0(x[b ..< b + 32], to: &out) }
            case .q4_1: for b in stride(from: 0, to: x.count, by: 32) { q4_1(x[b ..< b + 32], to: &out) }
            case .q5_0: for b in stride(from: 0, to: x.count, by: 32) { q5_0(x[b ..< b + 32], to: &out) }
            case .q5_1: for b in stride(from: 0, to: x.count, by: 32) { q5_1(x[b ..< b + 32], to: &out) }
            case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K, .iq4_nl:
                preconditionFailure("Quantize does not support \(type.name); K-quants and IQ4_NL need GGML's scale search")
            }
        }
        return out
    }

    /// Q8_0: d = absmax/127, q = round(x/d), halves away from zero (C's roundf).
    static func q8_0(_ x: Slice<UnsafeBufferPointer<Float>>, to out: inout [UInt8]) {
        var amax: Float = 0
        for v in x { amax = max(amax, abs(v)) }
        let d = amax / 127
        let id: Float = d != 0 ? 1 / d : 0
        append(Float16(d).bitPattern, to: &out)
        for v in x { out.append(UInt8(bitPattern: Int8(truncatedInt((v * id).rounded(), in: -128 ... 127)))) }
    }

    /// Q4_0: d = (the value of largest magnitude, with its sign) / -8, q = min(15, trunc(x/d + 8.5)).
    static func q4_0(_ x: Slice<UnsafeBufferPointer<Float>>, to out: inout [UInt8]) {
        var amax: Float = 0, signedMax: Float = 0
        for v in x where amax < abs(v) {
            amax = abs(v)
            signedMax = v
        }
        let d = signedMax / -8
        let id: Float = d != 0 ? 1 / d : 0
        append(Float16(d).bitPattern, to: &out)
        appendNibbles(x, to: &out) { truncatedInt($0 * id + 8.5, in: 0 ... 15) }
    }

    /// Q4_1: d = (max - min)/15, m = min, q = min(15, trunc((x - min)/d + 0.5)).
    static func q4_1(_ x: Slice<UnsafeBufferPointer<Float>>, to out: inout [UInt8]) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for v in x {
            if v < lo { lo = v }
            if v > hi { hi = v }
        }
        let d = (hi - lo) / 15
        let id: Float = d != 0 ? 1 / d : 0
        append(Float16(d).bitPattern, to: &out)
        append(Float16(lo).bitPattern, to: &out)
        appendNibbles(x, to: &out) { truncatedInt(($0 - lo) * id + 0.5, in: 0 ... 15) }
    }

    /// Q5_0: d = (the value of largest magnitude, with its sign) / -16, q = min(31, trunc(x/d + 16.5)).
    static func q5_0(_ x: Slice<UnsafeBufferPointer<Float>>, to out: inout [UInt8]) {
        var amax: Float = 0, signedMax: Float = 0
        for v in x where amax < abs(v) {
            amax = abs(v)
            signedMax = v
        }
        let d = signedMax / -16
        let id: Float = d != 0 ? 1 / d : 0
        append(Float16(d).bitPattern, to: &out)
        appendFiveBitCodes(x, to: &out) { truncatedInt($0 * id + 16.5, in: 0 ... 31) }
    }

    /// Q5_1: d = (max - min)/31, m = min, q = min(31, trunc((x - min)/d + 0.5)).
    static func q5_1(_ x: Slice<UnsafeBufferPointer<Float>>, to out: inout [UInt8]) {
        var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
        for v in x {
            if v < lo { lo = v }
            if v > hi { hi = v }
        }
        let d = (hi - lo) / 31
        let id: Float = d != 0 ? 1 / d : 0
        append(Float16(d).bitPattern, to: &out)
        append(Float16(lo).bitPattern, to: &out)
        appendFiveBitCodes(x, to: &out) { truncatedInt(($0 - lo) * id + 0.5, in: 0 ... 31) }
    }

    /// 32 five-bit codes as GGML packs them: the fifth bits as a little-endian UInt32 (bit j is
    /// element j's), then the low nibbles as `appendNibbles` packs them.
    static func appendFiveBitCodes(_ x: Slice<UnsafeBufferPointer<Float>>, to out: inout [UInt8], code: (Float) -> Int) {
        let start = x.startIndex
        let codes = (0 ..< 32).map { code(x[start + $0]) }
        var high: UInt32 = 0
        for (j, c) in codes.enumerated() { high |= UInt32((c >> 4) & 1) << UInt32(j) }
        append(high, to: &out)
        for j in 0 ..< 16 { out.append(UInt8(codes[j] & 0x0F | (codes[j + 16] & 0x0F) << 4)) }
    }

    /// Packs 32 codes as GGML does: byte j holds element j (low nibble) and element j+16 (high).
    @inline(__always)
    static func appendNibbles(_ x: Slice<UnsafeBufferPointer<Float>>, to out: inout [UInt8], code: (Float) -> Int) {
        let start = x.startIndex
        for j in 0 ..< 16 {
            out.append(UInt8(code(x[start + j]) | code(x[start + j + 16]) << 4))
        }
    }

    /// C's float-to-int cast (truncation toward zero) for values in `range`; values outside it
    /// clamp, and NaN, whose cast C leaves undefined, becomes 0.
    @inline(__always)
    static func truncatedInt(_ v: Float, in range: ClosedRange<Int>) -> Int {
        if v.isNaN { return 0 }
        if v <= Float(range.lowerBound) { return range.lowerBound }
        if v >= Float(range.upperBound) { return range.upperBound }
        return Int(v)
    }

    /// fp32 to bf16 rounding to nearest even, NaN forced quiet (GGML's ggml_compute_fp32_to_bf16).
    static func bf16Bits(_ v: Float) -> UInt16 {
        let bits = v.bitPattern
        if bits & 0x7FFF_FFFF > 0x7F80_0000 { return UInt16(bits >> 16) | 64 }
        return UInt16((UInt64(bits) + 0x7FFF + UInt64((bits >> 16) & 1)) >> 16)
    }

    @inline(__always)
    static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }
}
