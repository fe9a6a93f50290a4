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

    /// Writes the cos and sin of every angle of each row's position into `table`, [row][pair][cos,
    /// sin] (rows up to the last sequence's end; the forward step's scratch holds it): computed once
    /// per step, since every layer rotates a row by the same angles. Why: computed per layer and per
    /// head vector, SmolLM2 took 1,920 cos/sin pairs (in Double) a decode token; `perf` put
    /// `cos`/`sin` at ~0.7% of a decode's samples, all on the caller's thread. Now 32.
    func rotations(_ sequences: [Attention.Sequence], positionOf: (Attention.Sequence, Int) -> Int,
                   into table: UnsafeMutablePointer<Float>) {
        let pairs = rotaryDims / 2
        for sequence in sequences {
            for t in 0 ..< sequence.tokens {
                let position = positionOf(sequence, t), row = table + (sequence.row + t) * 2 * pairs
                for i in 0 ..< pairs {
                    let angle = Double(position) * Double(inverseFrequencies[i])
                    row[2 * i] = Float(cos(angle))
                    row[2 * i + 1] = Float(sin(angle))
                }
            }
        }
    }

    /// Rotates `heads` consecutive head vectors at `v` by row `row` of a `rotations` table.
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
}
