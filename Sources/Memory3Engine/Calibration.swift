import Foundation
import Memory3Memory
import Memory3Model
import Tokenizer

/// Finds a model's retrieval head: the query head whose attention mass over each of a chunk's
/// memories best picks the memory that holds the answer.
///
/// For every question the retriever's k candidates are read together without bias (the gold
/// reference is put in if the retriever missed it), in an order rotated per question so the gold
/// sits at every rank: a head that only follows the rank or the sink cannot win. The head is chosen
/// on the first half of the questions and confirmed on the second.
public struct Calibration {
    public struct HeadScore: Sendable, Codable {
        public var layer: Int
        public var head: Int
        public var firstHalf: Double
        public var secondHalf: Double
    }

    public let model: any DecoderModel
    public let tokenizer: Tokenizer
    public let source: MemorySource
    public let policy: MemoryReadingPolicy

    public init(model: any DecoderModel, tokenizer: Tokenizer, source: MemorySource, policy: MemoryReadingPolicy) {
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.policy = policy
    }

    /// Every head's accuracy on each half, best first (by the first half).
    public func scoreHeads(_ set: EvalSet, referenceIds: [Int: Int64], progress: (Int, Int) -> Void = { _, _ in }) throws -> [HeadScore] {
        let c = model.config
        let k = max(policy.memoriesPerChunk, 2)
        var correct = [[Int]](repeating: [Int](repeating: 0, count: c.layerCount * c.headCount), count: 2)
        var counted = [0, 0]
        for (q, question) in set.questions.enumerated() {
            guard let gold = referenceIds[question.ref] else { throw MemoryEngineError.missingReference(Int64(question.ref)) }
            var ids = try source.retrieve(question.prompt, limit: k, retriever: policy.retriever).map(\.referenceId)
            if !ids.contains(gold) {
                if ids.count == k { ids.removeLast() }
                ids.append(gold)
            }
            guard ids.count > 1 else { continue }
            let shift = q % ids.count
            ids = Array(ids[shift...] + ids[..<shift])
            let goldIndex = ids.firstIndex(of: gold)!
            let segments = try ids.enumerated().map { i, id in try source.memory(for: id).segment(dropPrefix: i > 0) }

            let prompt = tokenizer.encode(question.prompt, parseSpecial: false).suffix(policy.memoryInterval)
            let probe = AttentionProbe()
            let cache = model.makeCache(capacity: prompt.count, positionOffset: policy.contextOffset)
            try model.probeAttention(Array(prompt), cache: cache, memory: segments, probe: probe, throughLayer: c.layerCount - 1)
            let half = q < set.questions.count / 2 ? 0 : 1
            counted[half] += 1
            for layer in 0 ..< c.layerCount {
                for head in 0 ..< c.headCount {
                    guard let mass = probe.meanMass(layer: layer, head: head) else { continue }
                    if mass.indices.max(by: { mass[$0] < mass[$1] }) == goldIndex {
                        correct[half][layer * c.headCount + head] += 1
                    }
                }
            }
            progress(q + 1, set.questions.count)
        }
        var scores: [HeadScore] = []
        for layer in 0 ..< c.layerCount {
            for head in 0 ..< c.headCount {
                let i = layer * c.headCount + head
                scores.append(HeadScore(layer: layer, head: head,
                                        firstHalf: Double(correct[0][i]) / Double(max(counted[0], 1)),
                                        secondHalf: Double(correct[1][i]) / Double(max(counted[1], 1))))
            }
        }
        return scores.sorted { $0.firstHalf != $1.firstHalf ? $0.firstHalf > $1.firstHalf : $0.secondHalf > $1.secondHalf }
    }
}
