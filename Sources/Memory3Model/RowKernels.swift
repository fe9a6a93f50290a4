import GGUF

/// Portable SIMD kernels for one weight row. They are the reference the C kernels of the speed
/// work will be tested against, so they stay plain: one block at a time, GGML's layouts.
enum RowKernels {
    @inline(__always)
    static func half(_ p: UnsafeRawPointer, _ offset: Int) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    @inline(__always)
    static func load16(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func store16(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    /// Low and high nibbles of 16 bytes as floats: elements 0..<16 and 16..<32 of a Q4 block.
    @inline(__always)
    static func nibbles(_ p: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>) {
        let bytes = p.loadUnaligned(as: SIMD16<UInt8>.self)
        let lo = SIMD16<Int32>(truncatingIfNeeded: bytes & 0x0F)
        let hi = SIMD16<Int32>(truncatingIfNeeded: bytes &>> 4)
        return (SIMD16<Float>(lo), SIMD16<Float>(hi))
    }

    @inline(__always)
    static func int8s(_ p: UnsafeRawPointer) -> (SIMD16<Float>, SIMD16<Float>) {
        let a = p.loadUnaligned(as: SIMD16<Int8>.self)
        let b = p.loadUnaligned(fromByteOffset: 16, as: SIMD16<Int8>.self)
        return (SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: a)), SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: b)))
    }

    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
        var i = 0
        while i + 32 <= count {
            acc0.addProduct(load16(a + i), load16(b + i))
            acc1.addProduct(load16(a + i + 16), load16(b + i + 16))
            i += 32
        }
        var sum = (acc0 + acc1).sum()
        while i < count {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    static func dotQ4_1(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = SIMD16<Float>()
        var minTerm = SIMD16<Float>()
        for b in 0 ..< blocks {
            let p = row + b * 20
            let d = half(p, 0), m = half(p, 2)
            let (lo, hi) = nibbles(p + 4)
            let x0 = load16(x + b * 32), x1 = load16(x + b * 32 + 16)
            acc.addProduct(lo * x0 + hi * x1, SIMD16(repeating: d))
            minTerm.addProduct(x0 + x1, SIMD16(repeating: m))
        }
        return (acc + minTerm).sum()
    }

    static func dotQ8_0(_ row: UnsafeRawPointer, _ x: UnsafePointer<Float>, blocks: Int) -> Float {
        var acc = SIMD16<Float>()
        for b in 0 ..< blocks {
            let p = row + b * 34
            let d = half(p, 0)
            let (q0, q1) = int8s(p + 2)
            acc.addProduct(q0 * load16(x + b * 32) + q1 * load16(x + b * 32 + 16), SIMD16(repeating: d))
        }
        return acc.sum()
    }

    static func dequantizeQ4_1(_ row: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let p = row + b * 20
            let d = SIMD16<Float>(repeating: half(p, 0)), m = SIMD16<Float>(repeating: half(p, 2))
            let (lo, hi) = nibbles(p + 4)
            store16(lo * d + m, out + b * 32)
            store16(hi * d + m, out + b * 32 + 16)
        }
    }

    static func dequantizeQ4_0(_ row: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let p = row + b * 18
            let d = SIMD16<Float>(repeating: half(p, 0))
            let (lo, hi) = nibbles(p + 2)
            store16((lo - 8) * d, out + b * 32)
            store16((hi - 8) * d, out + b * 32 + 16)
        }
    }

    static func dequantizeQ8_0(_ row: UnsafeRawPointer, blocks: Int, into out: UnsafeMutablePointer<Float>) {
        for b in 0 ..< blocks {
            let p = row + b * 34
            let d = SIMD16<Float>(repeating: half(p, 0))
            let (q0, q1) = int8s(p + 2)
            store16(q0 * d, out + b * 32)
            store16(q1 * d, out + b * 32 + 16)
        }
    }
}
