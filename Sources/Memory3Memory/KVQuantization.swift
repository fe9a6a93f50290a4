/// The payload encodings of key and value tensors laid out [rows][tokens][headDim], where a row
/// is one (layer, KV head). Keys are quantized per channel (a dimension, across the row's
/// tokens); values per token (across its dimensions). Scales and zero points are fp16, rounded
/// outwards so that no code ever clamps: the error of a value is at most half a step.
enum KVQuantization {
    struct Shape {
        let rows: Int
        let tokens: Int
        let headDim: Int
        /// Tokens at the start of every row whose keys form a quantization group of their own
        /// (the reference prefix, the attention sink, for every low-bit codec but int4): the sink's large keys
        /// would otherwise stretch the range of the first body tokens' group.
        var keyLeadGroup = 0
        /// Elements per group of the low-bit codecs.
        var groupSize = MemoryCodec.lowBitGroupSize
        /// How a low-bit group's codes map to values.
        var levels = Levels.uniform
        var elements: Int { rows * tokens * headDim }
    }

    /// The values a low-bit group's codes stand for.
    enum Levels {
        /// zero + code * scale, with zero the group's minimum rounded down and scale its range over
        /// 2^bits - 1 rounded up: every value is within half a step, extremes included.
        case uniform
        /// mean + level[code] * deviation, with the Lloyd-Max levels of a unit Gaussian (the
        /// smallest mean squared error for Gaussian data, which rotated vectors approach). Values
        /// beyond the outer levels are clipped to them: at 2 bits (outer level 1.51) that clipping
        /// lost every answer on our development set, so only int3r uses them.
        case gaussian
    }

    /// Lloyd-Max reconstruction levels of the unit Gaussian at 3 bits (Max, 1960), ascending.
    static let gaussianLevels3: [Float] = [-2.1520, -1.3440, -0.7560, -0.2451, 0.2451, 0.7560, 1.3440, 2.1520]

    // MARK: fp16

    static func encodeHalf(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawPointer) -> Int {
        for i in 0 ..< count {
            out.storeBytes(of: Float16(saturating: x[i]).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
        }
        return 2 * count
    }

    static func decodeHalf(_ p: UnsafeRawPointer, count: Int, into x: UnsafeMutablePointer<Float>) -> Int {
        for i in 0 ..< count { x[i] = loadHalf(p, 2 * i) }
        return 2 * count
    }

    // MARK: int8, symmetric

    /// Keys: scales [rows][headDim], then codes [rows][tokens][headDim].
    static func encodeInt8Keys(_ x: UnsafePointer<Float>, _ s: Shape, into out: UnsafeMutableRawPointer) -> Int {
        let codes = out + 2 * s.rows * s.headDim
        var inverse = [Float](repeating: 0, count: s.headDim)
        for r in 0 ..< s.rows {
            let row = x + r * s.tokens * s.headDim
            for d in 0 ..< s.headDim {
                var amax: Float = 0
                for t in 0 ..< s.tokens { amax = max(amax, abs(row[t * s.headDim + d])) }
                let scale = halfRoundedUp(amax / 127)
                out.storeBytes(of: scale.bitPattern.littleEndian, toByteOffset: 2 * (r * s.headDim + d), as: UInt16.self)
                inverse[d] = scale > 0 ? 1 / Float(scale) : 0
            }
            let rowCodes = codes + r * s.tokens * s.headDim
            for i in 0 ..< s.tokens * s.headDim {
                rowCodes.storeBytes(of: int8Code(row[i] * inverse[i % s.headDim]), toByteOffset: i, as: Int8.self)
            }
        }
        return 2 * s.rows * s.headDim + s.elements
    }

    static func decodeInt8Keys(_ p: UnsafeRawPointer, _ s: Shape, into x: UnsafeMutablePointer<Float>) -> Int {
        let codes = (p + 2 * s.rows * s.headDim).assumingMemoryBound(to: Int8.self)
        var scales = [Float](repeating: 0, count: s.headDim)
        for r in 0 ..< s.rows {
            for d in 0 ..< s.headDim { scales[d] = loadHalf(p, 2 * (r * s.headDim + d)) }
            let base = r * s.tokens * s.headDim
            scales.withUnsafeBufferPointer { scale in
                for t in 0 ..< s.tokens {
                    let o = base + t * s.headDim
                    for d in 0 ..< s.headDim { x[o + d] = Float(codes[o + d]) * scale[d] }
                }
            }
        }
        return 2 * s.rows * s.headDim + s.elements
    }

    /// Values: scales [rows][tokens], then codes [rows][tokens][headDim].
    static func encodeInt8Values(_ x: UnsafePointer<Float>, _ s: Shape, into out: UnsafeMutableRawPointer) -> Int {
        let vectors = s.rows * s.tokens
        let codes = out + 2 * vectors
        for v in 0 ..< vectors {
            let vector = x + v * s.headDim
            var amax: Float = 0
            for d in 0 ..< s.headDim { amax = max(amax, abs(vector[d])) }
            let scale = halfRoundedUp(amax / 127)
            out.storeBytes(of: scale.bitPattern.littleEndian, toByteOffset: 2 * v, as: UInt16.self)
            let inverse = scale > 0 ? 1 / Float(scale) : 0
            for d in 0 ..< s.headDim {
                codes.storeBytes(of: int8Code(vector[d] * inverse), toByteOffset: v * s.headDim + d, as: Int8.self)
            }
        }
        return 2 * vectors + s.elements
    }

    static func decodeInt8Values(_ p: UnsafeRawPointer, _ s: Shape, into x: UnsafeMutablePointer<Float>) -> Int {
        let vectors = s.rows * s.tokens
        let codes = (p + 2 * vectors).assumingMemoryBound(to: Int8.self)
        for v in 0 ..< vectors {
            let scale = loadHalf(p, 2 * v)
            let o = v * s.headDim
            for d in 0 ..< s.headDim { x[o + d] = Float(codes[o + d]) * scale }
        }
        return 2 * vectors + s.elements
    }

    // MARK: low-bit (int2, int3, int4, int3r, int2r), groups of 32 or 64

    /// A sequence of `count` elements at `x[start + i * stride]`, quantized to `bits`-bit codes in
    /// groups of `s.groupSize` (the first group `lead` long when lead > 0). Parameters (two fp16
    /// per group: scale and minimum, or deviation and mean) go to `params`; codes to the
    /// little-endian bit stream `codes`, element i at bits [bits * (first + i), bits * (first + i + 1)).
    /// At 4 bits this is the nibble layout int4 blobs have always had (even element in the low nibble).
    private static func encodeLowBitRun(_ x: UnsafePointer<Float>, start: Int, stride: Int, count: Int, bits: Int, lead: Int = 0,
                                        _ s: Shape, params: UnsafeMutableRawPointer, codes: UnsafeMutablePointer<UInt8>, first: Int) {
        var group = 0
        var i = 0
        while i < count {
            let end = min(i + (i == 0 && lead > 0 ? lead : s.groupSize), count)
            let (a, b): (Float16, Float16)
            switch s.levels {
            case .uniform: (a, b) = encodeUniformGroup(x, start: start, stride: stride, i ..< end, bits: bits, codes: codes, first: first)
            case .gaussian: (a, b) = encodeGaussianGroup(x, start: start, stride: stride, i ..< end, codes: codes, first: first)
            }
            params.storeBytes(of: a.bitPattern.littleEndian, toByteOffset: 4 * group, as: UInt16.self)
            params.storeBytes(of: b.bitPattern.littleEndian, toByteOffset: 4 * group + 2, as: UInt16.self)
            group += 1
            i = end
        }
    }

    /// Uniform codes of one group; returns (scale, zero).
    private static func encodeUniformGroup(_ x: UnsafePointer<Float>, start: Int, stride: Int, _ range: Range<Int>, bits: Int,
                                           codes: UnsafeMutablePointer<UInt8>, first: Int) -> (Float16, Float16) {
        let top = Float((1 << bits) - 1)
        var low = Float.infinity, high = -Float.infinity
        for j in range {
            let value = x[start + j * stride]
            low = min(low, value)
            high = max(high, value)
        }
        // Zero rounded down and scale up, so that zero + top * scale covers the maximum.
        let zero = halfRoundedDown(low)
        let scale = halfRoundedUp((high - Float(zero)) / top)
        let inverse = scale > 0 ? 1 / Float(scale) : 0
        let z = Float(zero)
        for j in range {
            let q = Int(max(0, min(top, (x[start + j * stride] - z) * inverse)).rounded())
            putCode(q, bits: bits, at: first + j, into: codes)
        }
        return (scale, zero)
    }

    /// 3-bit Gaussian codes of one group; returns (deviation, mean), both as stored (fp16), and
    /// each value takes the level nearest to it given those.
    private static func encodeGaussianGroup(_ x: UnsafePointer<Float>, start: Int, stride: Int, _ range: Range<Int>,
                                            codes: UnsafeMutablePointer<UInt8>, first: Int) -> (Float16, Float16) {
        let n = Float(range.count)
        var sum: Double = 0
        for j in range { sum += Double(x[start + j * stride]) }
        let mean = Float16(saturating: Float(sum / Double(n)))
        var squares: Double = 0
        for j in range {
            let d = Double(x[start + j * stride]) - Double(Float(mean))
            squares += d * d
        }
        let deviation = Float16(saturating: Float((squares / Double(n)).squareRoot()))
        let inverse = deviation > 0 ? 1 / Float(deviation) : 0
        let levels = gaussianLevels3
        for j in range {
            let u = (x[start + j * stride] - Float(mean)) * inverse
            // Levels ascend: the nearest is the first whose midpoint with the next lies above u.
            var q = 0
            while q < levels.count - 1 && u > (levels[q] + levels[q + 1]) / 2 { q += 1 }
            putCode(q, bits: 3, at: first + j, into: codes)
        }
        return (deviation, mean)
    }

    private static func decodeLowBitRun(_ x: UnsafeMutablePointer<Float>, start: Int, stride: Int, count: Int, bits: Int, lead: Int = 0,
                                        _ s: Shape, params: UnsafeRawPointer, codes: UnsafePointer<UInt8>, first: Int) {
        var group = 0
        var i = 0
        while i < count {
            let end = min(i + (i == 0 && lead > 0 ? lead : s.groupSize), count)
            let scale = loadHalf(params, 4 * group)
            let zero = loadHalf(params, 4 * group + 2)
            switch s.levels {
            case .uniform:
                for j in i ..< end { x[start + j * stride] = zero + Float(code(bits: bits, at: first + j, in: codes)) * scale }
            case .gaussian:
                gaussianLevels3.withUnsafeBufferPointer { levels in
                    for j in i ..< end { x[start + j * stride] = zero + levels[code(bits: 3, at: first + j, in: codes)] * scale }
                }
            }
            group += 1
            i = end
        }
    }

    /// ORs a code into the zero-initialised bit stream (it may straddle two bytes).
    @inline(__always)
    private static func putCode(_ q: Int, bits: Int, at n: Int, into codes: UnsafeMutablePointer<UInt8>) {
        let bit = bits * n
        let word = UInt16(q) << UInt16(bit & 7)
        codes[bit >> 3] |= UInt8(truncatingIfNeeded: word)
        if (bit & 7) + bits > 8 { codes[(bit >> 3) + 1] |= UInt8(truncatingIfNeeded: word >> 8) }
    }

    @inline(__always)
    private static func code(bits: Int, at n: Int, in codes: UnsafePointer<UInt8>) -> Int {
        let bit = bits * n
        var word = Int(codes[bit >> 3])
        if (bit & 7) + bits > 8 { word |= Int(codes[(bit >> 3) + 1]) << 8 }
        return (word >> (bit & 7)) & ((1 << bits) - 1)
    }

    private static func groups(_ n: Int, size: Int) -> Int { (n + size - 1) / size }

    /// Groups of one key run (a channel of a row): the lead group, if any, then groups of `size`.
    static func keyGroups(tokens: Int, lead: Int, size: Int) -> Int {
        lead > 0 && lead < tokens ? 1 + groups(tokens - lead, size: size) : groups(tokens, size: size)
    }

    static func lowBitCodeBytes(_ elements: Int, bits: Int) -> Int { (elements * bits + 7) / 8 }

    /// Keys: parameters [rows][headDim][token groups], then codes [rows][headDim][tokens].
    static func encodeLowBitKeys(_ x: UnsafePointer<Float>, _ s: Shape, bits: Int, into out: UnsafeMutableRawPointer) -> Int {
        let lead = s.keyLeadGroup < s.tokens ? s.keyLeadGroup : 0
        let perRun = keyGroups(tokens: s.tokens, lead: lead, size: s.groupSize)
        let paramBytes = 4 * s.rows * s.headDim * perRun
        let codes = (out + paramBytes).assumingMemoryBound(to: UInt8.self)
        let codeBytes = lowBitCodeBytes(s.elements, bits: bits)
        codes.initialize(repeating: 0, count: codeBytes)
        for r in 0 ..< s.rows {
            for d in 0 ..< s.headDim {
                let run = r * s.headDim + d
                encodeLowBitRun(x, start: r * s.tokens * s.headDim + d, stride: s.headDim, count: s.tokens, bits: bits,
                                lead: lead, s, params: out + 4 * run * perRun, codes: codes, first: run * s.tokens)
            }
        }
        return paramBytes + codeBytes
    }

    static func decodeLowBitKeys(_ p: UnsafeRawPointer, _ s: Shape, bits: Int, into x: UnsafeMutablePointer<Float>) -> Int {
        let lead = s.keyLeadGroup < s.tokens ? s.keyLeadGroup : 0
        let perRun = keyGroups(tokens: s.tokens, lead: lead, size: s.groupSize)
        let paramBytes = 4 * s.rows * s.headDim * perRun
        let codes = (p + paramBytes).assumingMemoryBound(to: UInt8.self)
        for r in 0 ..< s.rows {
            for d in 0 ..< s.headDim {
                let run = r * s.headDim + d
                decodeLowBitRun(x, start: r * s.tokens * s.headDim + d, stride: s.headDim, count: s.tokens, bits: bits,
                                lead: lead, s, params: p + 4 * run * perRun, codes: codes, first: run * s.tokens)
            }
        }
        return paramBytes + lowBitCodeBytes(s.elements, bits: bits)
    }

    /// Values: parameters [rows][tokens][dimension groups], then codes [rows][tokens][headDim].
    static func encodeLowBitValues(_ x: UnsafePointer<Float>, _ s: Shape, bits: Int, into out: UnsafeMutableRawPointer) -> Int {
        let perRun = groups(s.headDim, size: s.groupSize)
        let vectors = s.rows * s.tokens
        let paramBytes = 4 * vectors * perRun
        let codes = (out + paramBytes).assumingMemoryBound(to: UInt8.self)
        let codeBytes = lowBitCodeBytes(s.elements, bits: bits)
        codes.initialize(repeating: 0, count: codeBytes)
        for v in 0 ..< vectors {
            encodeLowBitRun(x, start: v * s.headDim, stride: 1, count: s.headDim, bits: bits,
                            s, params: out + 4 * v * perRun, codes: codes, first: v * s.headDim)
        }
        return paramBytes + codeBytes
    }

    static func decodeLowBitValues(_ p: UnsafeRawPointer, _ s: Shape, bits: Int, into x: UnsafeMutablePointer<Float>) -> Int {
        let perRun = groups(s.headDim, size: s.groupSize)
        let vectors = s.rows * s.tokens
        let paramBytes = 4 * vectors * perRun
        let codes = (p + paramBytes).assumingMemoryBound(to: UInt8.self)
        for v in 0 ..< vectors {
            decodeLowBitRun(x, start: v * s.headDim, stride: 1, count: s.headDim, bits: bits,
                            s, params: p + 4 * v * perRun, codes: codes, first: v * s.headDim)
        }
        return paramBytes + lowBitCodeBytes(s.elements, bits: bits)
    }

    // MARK: helpers

    @inline(__always)
    static func loadHalf(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: UInt16(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
    }

    @inline(__always)
    private static func int8Code(_ scaled: Float) -> Int8 {
        Int8(max(-127, min(127, scaled)).rounded())
    }

    /// The smallest finite fp16 >= x (x >= 0 and finite).
    static func halfRoundedUp(_ x: Float) -> Float16 {
        var h = Float16(saturating: x)
        if Float(h) < x && h < .greatestFiniteMagnitude { h = h.nextUp }
        return h
    }

    /// The largest finite fp16 <= x (x finite).
    static func halfRoundedDown(_ x: Float) -> Float16 {
        var h = Float16(saturating: x)
        if Float(h) > x && h > -.greatestFiniteMagnitude { h = h.nextDown }
        return h
    }
}

extension Float16 {
    /// Rounds to nearest, but clamps to the finite range instead of overflowing to infinity.
    init(saturating x: Float) {
        self = Float16(Swift.max(-Float(Float16.greatestFiniteMagnitude), Swift.min(Float(Float16.greatestFiniteMagnitude), x)))
    }
}

