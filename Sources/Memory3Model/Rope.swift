import Foundation

/// Rotary position embedding on adjacent pairs (2i, 2i+1), the layout of GGUF Llama weights
/// (the converter permuted Q/K so that pairs are adjacent).
struct Rope: Sendable {
    let headDim: Int
    let rotaryDims: Int
    let inverseFrequencies: [Float]

    init(headDim: Int, rotaryDims: Int, base: Float) {
        self.headDim = headDim
        self.rotaryDims = rotaryDims
        inverseFrequencies = (0 ..< rotaryDims / 2).map { i in
            Float(pow(Double(base), -Double(2 * i) / Double(rotaryDims)))
        }
    }

    /// Rotates `heads` consecutive head vectors at `v` to `position`.
    func apply(_ v: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        for i in 0 ..< rotaryDims / 2 {
            let angle = Double(position) * Double(inverseFrequencies[i])
            let c = Float(cos(angle)), s = Float(sin(angle))
            for h in 0 ..< heads {
                let p = v + h * headDim + 2 * i
                let a = p[0], b = p[1]
                p[0] = a * c - b * s
                p[1] = a * s + b * c
            }
        }
    }
}
