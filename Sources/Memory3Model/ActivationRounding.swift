/// Activations enter every quantized matrix product as 8-bit blocks, the way GGML's CPU path
/// does it (Q8_0/Q8_1: 32 values with one fp16 scale = absmax/127). Measured against llama.cpp:
/// without it our logits drift up to ~0.4 from its logits and flip a greedy choice whose top-2
/// gap is 0.35; with it, greedy continuations agree. It is also what 8-bit integer dot-product
/// kernels compute, so the speed work keeps these numerics.
enum ActivationRounding {
    /// Replaces each block of 32 values by its 8-bit quantization, dequantized.
    static func roundToQ8Blocks(_ x: UnsafeMutablePointer<Float>, count: Int) {
        var b = 0
        while b < count {
            let n = min(32, count - b)
            var amax: Float = 0
            for i in 0 ..< n { amax = max(amax, abs(x[b + i])) }
            let d = amax / 127
            let inverse: Float = d != 0 ? 1 / d : 0
            let storedScale = Float(Float16(d))
            for i in 0 ..< n {
                x[b + i] = (x[b + i] * inverse).rounded(.toNearestOrEven) * storedScale
            }
            b += 32
        }
    }
}
