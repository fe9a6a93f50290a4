import Foundation

/// Chooses the next token from logits, in llama.cpp's order: penalties, top-k, top-p, min-p,
/// temperature, then a draw from the seeded generator (or argmax when greedy).
public struct Sampler: Sendable {
    public let parameters: SamplingParameters
    /// The seed in use (chosen at random when the parameters name none), to report and replay.
    public let seed: UInt64
    private var random: SeededGenerator

    public init(_ parameters: SamplingParameters) {
        self.parameters = parameters
        self.seed = parameters.seed ?? UInt64.random(in: 0 ... UInt64.max)
        self.random = SeededGenerator(seed: seed)
    }

    /// The next token given the logits and the tokens so far (prompt and output, for penalties).
    /// `logits` is modified by the penalties.
    public mutating func sample(_ logits: inout [Float], history: [Int]) -> Int {
        applyPenalties(&logits, history: history)
        if parameters.isGreedy { return Self.argmax(logits) }

        var candidates = Self.topCandidates(logits, k: parameters.topK)  // sorted, most likely first
        // Probabilities at temperature 1 decide the top-p and min-p cuts.
        var probabilities = Self.softmax(candidates.map { logits[$0] }, temperature: 1)
        var keep = candidates.count
        if parameters.topP < 1 {
            var cumulative: Float = 0
            for (i, p) in probabilities.enumerated() {
                cumulative += p
                if cumulative >= parameters.topP {
                    keep = i + 1
                    break
                }
            }
        }
        if parameters.minP > 0, let top = probabilities.first {
            let threshold = parameters.minP * top
            keep = min(keep, max(1, probabilities.prefix(keep).lastIndex { $0 >= threshold }.map { $0 + 1 } ?? 1))
        }
        candidates.removeSubrange(keep...)
        probabilities = Self.softmax(candidates.map { logits[$0] }, temperature: parameters.temperature)

        let u = random.nextUnitFloat()
        var cumulative: Float = 0
        for (i, p) in probabilities.enumerated() {
            cumulative += p
            if u < cumulative { return candidates[i] }
        }
        return candidates[candidates.count - 1]
    }

    func applyPenalties(_ logits: inout [Float], history: [Int]) {
        let p = parameters
        guard p.repetitionPenalty != 1 || p.frequencyPenalty != 0 || p.presencePenalty != 0,
              p.penaltyWindow > 0, !history.isEmpty else { return }
        var counts: [Int: Int] = [:]
        for t in history.suffix(p.penaltyWindow) { counts[t, default: 0] += 1 }
        for (token, count) in counts where token >= 0 && token < logits.count {
            var l = logits[token]
            l = l > 0 ? l / p.repetitionPenalty : l * p.repetitionPenalty
            l -= Float(count) * p.frequencyPenalty + p.presencePenalty
            logits[token] = l
        }
    }

    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        for i in logits.indices where logits[i] > logits[best] { best = i }
        return best
    }

    /// Indices of the k largest logits, largest first (all of them, sorted, when k is 0).
    static func topCandidates(_ logits: [Float], k: Int) -> [Int] {
        if k <= 0 || k >= logits.count {
            return logits.indices.sorted { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        }
        // Keep a sorted window of the k best; most logits fall below its floor and cost one compare.
        var best: [Int] = []
        best.reserveCapacity(k + 1)
        for i in logits.indices {
            let l = logits[i]
            if best.count == k, l <= logits[best[k - 1]] { continue }
            var lo = 0, hi = best.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if logits[best[mid]] >= l { lo = mid + 1 } else { hi = mid }
            }
            best.insert(i, at: lo)
            if best.count > k { best.removeLast() }
        }
        return best
    }

    static func softmax(_ values: [Float], temperature: Float) -> [Float] {
        guard let maxValue = values.max() else { return [] }
        var e = values.map { expf(($0 - maxValue) / temperature) }
        let sum = e.reduce(0, +)
        for i in e.indices { e[i] /= sum }
        return e
    }
}
