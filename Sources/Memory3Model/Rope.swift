import Foundation

/// Rotary position embedding, in either pairing GGUF models use.
struct Rope: Sendable {
    enum Pairing: Sendable {
        /// Pairs (2i, 2i+1): GGUF Llama weights (the converter permuted Q/K so pairs are adjacent).
        case adjacent
        /// Pairs (i, i + rotaryDims/2): GPT-NeoX, Gemma, Qwen.
        case halfSplit
    }

    let headDim: Int
    let rotaryDims: Int
    let pairing: Pairing
    let inverseFrequencies: [Float]

    /// `frequencyFactors`: one divisor per pair (Llama 3's long-context scaling), when given.
    init(headDim: Int, rotaryDims: Int, base: Float, pairing: Pairing = .adjacent, frequencyFactors: [Float]? = nil) {
        self.headDim = headDim
        self.rotaryDims = rotaryDims
        self.pairing = pairing
        inverseFrequencies = (0 ..< rotaryDims / 2).map { i in
            Float(pow(Double(base), -Double(2 * i) / Double(rotaryDims)) / Double(frequencyFactors?[i] ?? 1))
        }
    }

    /// Rotates `heads` consecutive head vectors at `v` to `position`.
    func apply(_ v: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        for i in 0 ..< rotaryDims / 2 {
            let angle = Double(position) * Double(inverseFrequencies[i])
            let c = Float(cos(angle)), s = Float(sin(angle))
            let (first, second) = pairing == .adjacent ? (2 * i, 2 * i + 1) : (i, i + rotaryDims / 2)
            for h in 0 ..< heads {
                let p = v + h * headDim
                let a = p[first], b = p[second]
                p[first] = a * c - b * s
                p[second] = a * s + b * c
            }
        }
    }
}
