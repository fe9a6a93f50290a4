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

    /// The cos and sin of every angle of each row's position, [row][pair][cos, sin]: computed once
    /// per forward step, since every layer rotates a row by the same angles. Why: computed per
    /// layer and per head vector, SmolLM2 took 1,920 (Double) cos/sin pairs a token (~2% of a decode
    /// step on the caller's thread in `perf`); now 32.
    func rotations(_ sequences: [Attention.Sequence], positionOf: (Attention.Sequence, Int) -> Int) -> [Float] {
        let pairs = rotaryDims / 2
        let rows = sequences.reduce(0) { max($0, $1.row + $1.tokens) }
        var table = [Float](repeating: 0, count: rows * 2 * pairs)
        for sequence in sequences {
            for t in 0 ..< sequence.tokens {
                let position = positionOf(sequence, t), base = (sequence.row + t) * 2 * pairs
                for i in 0 ..< pairs {
                    let angle = Double(position) * Double(inverseFrequencies[i])
                    table[base + 2 * i] = Float(cos(angle))
                    table[base + 2 * i + 1] = Float(sin(angle))
                }
            }
        }
        return table
    }

    /// Rotates `heads` consecutive head vectors at `v` by row `row` of `rotations`.
    func apply(_ v: UnsafeMutablePointer<Float>, heads: Int, rotations: UnsafePointer<Float>, row: Int) {
        let pairs = rotaryDims / 2
        let angles = rotations + row * 2 * pairs
        for i in 0 ..< pairs {
            let c = angles[2 * i], s = angles[2 * i + 1]
            let (first, second) = pairing == .adjacent ? (2 * i, 2 * i + 1) : (i, i + pairs)
            for h in 0 ..< heads {
                let p = v + h * headDim
                let a = p[first], b = p[second]
                p[first] = a * c - b * s
                p[second] = a * s + b * c
            }
        }
    }

    /// Rotates `heads` consecutive head vectors at `v` to `position`.
    func apply(_ v: UnsafeMutablePointer<Float>, heads: Int, position: Int) {
        let pairs = rotaryDims / 2
        withUnsafeTemporaryAllocation(of: Float.self, capacity: 2 * max(pairs, 1)) { angles in
            for i in 0 ..< pairs {
                let angle = Double(position) * Double(inverseFrequencies[i])
                angles[2 * i] = Float(cos(angle))
                angles[2 * i + 1] = Float(sin(angle))
            }
            apply(v, heads: heads, rotations: UnsafePointer(angles.baseAddress!), row: 0)
        }
    }
}
