import Foundation
import Memory3Model

/// A model's retrieval head: the query head whose attention mass over each memory best picks the
/// relevant one. Found per model by `memory3 calibrate`.
public struct RetrievalHead: Sendable, Codable, Equatable {
    public var layer: Int
    public var head: Int
    /// Share of calibration questions where this head picked the right memory.
    public var accuracy: Double?

    public init(layer: Int, head: Int, accuracy: Double? = nil) {
        self.layer = layer
        self.head = head
        self.accuracy = accuracy
    }
}

/// How retrieved memories are read. The defaults follow the measurements in
/// docs/memory-quality.md: five memories read naively let distractors leak in; biasing attention
/// toward the best memory (after reranking with the retrieval head, when calibrated) fixes it.
public struct MemoryReadingPolicy: Sendable, Codable, Equatable {
    /// Tokens per chunk: each prompt chunk retrieves its own memories; while generating, memories
    /// are swapped every this many tokens.
    public var memoryInterval = 64
    /// Memories retrieved per chunk.
    public var memoriesPerChunk = 5
    /// How they are retrieved (nil: the memory source's default).
    public var retriever: RetrieverKind?
    /// RoPE position of the first context token; memories sit below it at their own positions.
    public var contextOffset = 512
    /// Attention-logit bias added to every memory but the first-ranked one (0 = plain
    /// concatenation). Ignored when `scoreRatioBeta` is set.
    public var rankBias: Float = -4
    /// When set, memory i gets beta * (score_i / best - 1) instead of the rank bias.
    public var scoreRatioBeta: Float?
    /// When set, memories whose retrieval score is below this fraction of the best are dropped.
    public var gateRatio: Double?
    /// Retrieval hits below this score are ignored.
    public var minimumScore: Double?
    /// When set, the chunk's candidates are reordered by this head's attention mass before the
    /// biased read (one extra pass through the layers up to the head's layer).
    public var retrievalHead: RetrievalHead?
    /// How much the retriever's own score counts when the head reranks: a memory's rank score is
    /// the log of its share of the head's mass plus this times its retrieval score over the best
    /// (0: the head alone). Measured (docs/memory-quality.md): 0.5 lifts the hard set above both
    /// BM25's order and the head alone, while a confident head still overrules a wrong BM25 order.
    public var retrieverWeight: Float = 0.5

    public init() {}

    /// The defaults for a model. A model with sliding-window layers gets its context right after
    /// the memory window: its local layers never learned to look further back than their window,
    /// so memory keys far behind the queries are noise to them. Measured on Gemma 3 270M on a
    /// development set (`scripts/make-calibration-set.py --seed 23 --references 60`), explicit
    /// exact match by context offset: 128 -> 78.3%, 256 -> 76.7%, 512 -> 75.8%, 1024 -> 1.7%.
    public static func defaults(for model: DecoderConfig) -> MemoryReadingPolicy {
        var policy = MemoryReadingPolicy()
        if model.slidingWindow != nil { policy.contextOffset = 128 }
        return policy
    }

    /// The rerank score of each candidate: log of its share of the head's attention `mass` plus
    /// `retrieverWeight` times its retrieval score over the best. In the log, two experts multiply:
    /// a head that puts several times more mass on one memory wins, while between memories the
    /// head weighs alike (a hard question) the retriever decides.
    func rerankScores(mass: [Float], retrievalScores: [Double]) -> [Float] {
        let total = mass.reduce(0, +)
        let best = retrievalScores.max() ?? 0
        return mass.indices.map { i in
            let share = total > 0 ? mass[i] / total : 0
            let retrieval = best > 0 ? Float(retrievalScores[i] / best) : 0
            return logf(max(share, Self.smallestShare)) + retrieverWeight * retrieval
        }
    }

    /// Mass shares are floored here before the log (a memory the head ignores entirely).
    static let smallestShare: Float = 1e-6

    /// The bias of the memory at `rank` (0 = best) with retrieval `score`, given the best score.
    func bias(rank: Int, score: Double, best: Double) -> Float {
        if let beta = scoreRatioBeta {
            guard best > 0 else { return 0 }
            return beta * Float(score / best - 1)
        }
        return rank == 0 ? 0 : rankBias
    }
}
