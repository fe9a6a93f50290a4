import Foundation
import Memory3Memory
import Memory3Model
import MemoryStore
import Tokenizer

/// Scores of one memory mode on an eval set.
public struct EvalScores: Codable, Sendable, Equatable {
    /// Share of questions whose greedy answer starts with the expected answer (0-1).
    public var exact_match: Double
    /// Mean log-probability of the expected answer's tokens, summed per answer.
    public var answer_logprob: Double
    /// Share of questions whose gold reference the retriever returned in its top k.
    public var recall_at_k: Double
    public var questions: Int
    /// Exact match per question kind (the hard set's direct, paraphrase, multihop), when the set
    /// names kinds.
    public var exact_match_by_kind: [String: Double]?
}

/// Runs an eval set against a store built from its references.
public struct Evaluation {
    public let generator: MemoryGenerator
    public let source: MemorySource
    /// Eval reference id -> store reference id.
    public let referenceIds: [Int: Int64]
    public var k: Int { generator.policy.memoriesPerChunk }
    /// Tokens generated per answer.
    public var answerTokens = Evaluation.defaultAnswerTokens
    /// Tokens a greedy answer may take (every eval set's answers are shorter).
    public static let defaultAnswerTokens = 8
    /// When true, the gold reference and the best distractor swap ranks and scores in every
    /// retrieval (tests reading that does not trust BM25's order).
    public var swapGoldWithBestDistractor = false

    public init(generator: MemoryGenerator, source: MemorySource, referenceIds: [Int: Int64]) {
        self.generator = generator
        self.source = source
        self.referenceIds = referenceIds
    }

    /// Puts every reference of `set` into the pipeline's store as its own document (one reference,
    /// not cut), through the same ingestion as the CLI and the server; returns eval reference id ->
    /// store reference id.
    public static func buildStore(_ set: EvalSet, pipeline: IngestionPipeline,
                                  progress: (Int, Int) -> Void = { _, _ in }) throws -> [Int: Int64] {
        var ids: [Int: Int64] = [:]
        for (i, reference) in set.references.enumerated() {
            let input = DocumentInput(title: "eval reference \(reference.id)", source: "eval", bytes: Array(reference.text.utf8),
                                      format: .wholeText)
            let documentId: Int64
            switch pipeline.ingestNow(input) {
            case .ready(let id), .skipped(let id): documentId = id
            case .failed(let error): throw MemoryEngineError.ingestionFailed(reference: reference.id, error.description)
            case .pending: throw MemoryEngineError.ingestionFailed(reference: reference.id, "unfinished")
            }
            guard let detail = try pipeline.store.document(id: documentId), let first = detail.references.first else {
                throw MemoryEngineError.missingReference(documentId)
            }
            ids[reference.id] = first.id
            progress(i + 1, set.references.count)
        }
        return ids
    }

    /// Exact match, answer log-probability and recall@k of `mode` over the set's questions. With
    /// `goldInPrompt` (and mode off), each question is read after its gold reference's text alone:
    /// the model's ceiling, what it answers with the right page in front of it. With
    /// `goldMemoryOnly` (and mode explicit), retrieval returns the gold reference alone: how well a
    /// memory reads when retrieval is perfect, to hold against `goldInPrompt`.
    public func run(_ set: EvalSet, mode: MemoryMode, goldInPrompt: Bool = false, goldMemoryOnly: Bool = false,
                    progress: (Int, Int) -> Void = { _, _ in }) throws -> EvalScores {
        var exact = 0, recalled = 0
        var exactByKind: [String: (right: Int, total: Int)] = [:]
        var logProbabilities = 0.0
        let tokenizer = generator.tokenizer
        for (i, question) in set.questions.enumerated() {
            guard let gold = referenceIds[question.ref] else { throw MemoryEngineError.missingReference(Int64(question.ref)) }
            let questionSource: MemorySource = goldMemoryOnly ? GoldOnlySource(base: source, gold: gold)
                : swapGoldWithBestDistractor ? SwappedSource(base: source, gold: gold) : source
            let questionGenerator = MemoryGenerator(model: generator.model, tokenizer: tokenizer,
                                                    source: questionSource, policy: generator.policy)
            var prompt = tokenizer.encode(question.prompt, parseSpecial: false)
            if goldInPrompt {
                // As text mode lays out retrieved references: the text, a blank line, the question.
                let page = tokenizer.encode(try source.text(for: gold) + "\n\n", parseSpecial: false)
                prompt = page + tokenizer.encode(question.prompt, parseSpecial: false, addBOS: false)
            }
            // The answer continues the prompt: no BOS of its own.
            let answer = tokenizer.encode(question.answer, parseSpecial: false, addBOS: false)
            let right = question.isAnswered(by: try Self.answer(prompt, with: questionGenerator, mode: mode, tokens: answerTokens))
            if right { exact += 1 }
            if let kind = question.kind {
                let tally = exactByKind[kind] ?? (0, 0)
                exactByKind[kind] = (tally.right + (right ? 1 : 0), tally.total + 1)
            }
            let (lp, _) = try questionGenerator.continuationLogProbability(prompt: prompt, continuation: answer, mode: mode)
            logProbabilities += lp
            let hits = try questionSource.retrieve(question.prompt, limit: k, retriever: generator.policy.retriever)
            if hits.contains(where: { $0.referenceId == gold }) { recalled += 1 }
            progress(i + 1, set.questions.count)
        }
        let n = Double(max(set.questions.count, 1))
        return EvalScores(exact_match: Double(exact) / n, answer_logprob: logProbabilities / n,
                          recall_at_k: Double(recalled) / n, questions: set.questions.count,
                          exact_match_by_kind: exactByKind.isEmpty ? nil
                              : exactByKind.mapValues { Double($0.right) / Double($0.total) })
    }
}

extension Evaluation {
    /// The greedy answer to `prompt` (`tokens` at most, stopping at end of generation): what
    /// exact match is judged on.
    public static func answer(_ prompt: [Int], with generator: MemoryGenerator, mode: MemoryMode, tokens: Int) throws -> String {
        var options = GenerationOptions(maxTokens: tokens, sampling: .greedy)
        options.stopAtEndOfGeneration = true
        return try generator.generate(prompt: prompt, mode: mode, options: options).generation.text
    }
}

/// A source whose retrieval swaps the gold reference with the best distractor (rank and score).
struct SwappedSource: MemorySource {
    let base: MemorySource
    let gold: Int64

    func retrieve(_ query: String, limit: Int, retriever: RetrieverKind?) throws -> [RetrievedReference] {
        var hits = try base.retrieve(query, limit: limit, retriever: retriever)
        guard let g = hits.firstIndex(where: { $0.referenceId == gold }),
              let d = hits.indices.filter({ $0 != g }).max(by: { hits[$0].score < hits[$1].score }) else { return hits }
        let (goldScore, distractorScore) = (hits[g].score, hits[d].score)
        hits.swapAt(g, d)
        hits[g].score = goldScore
        hits[d].score = distractorScore
        return hits
    }

    func memory(for referenceId: Int64) throws -> EncodedMemory { try base.memory(for: referenceId) }
    func text(for referenceId: Int64) throws -> String { try base.text(for: referenceId) }
}

/// A source whose retrieval returns the gold reference alone, whatever the query (perfect retrieval).
struct GoldOnlySource: MemorySource {
    let base: MemorySource
    let gold: Int64

    func retrieve(_ query: String, limit: Int, retriever: RetrieverKind?) throws -> [RetrievedReference] {
        guard limit > 0 else { return [] }
        // The document id only labels chunk records, which an eval does not read.
        return [RetrievedReference(referenceId: gold, documentId: 0, score: 1)]
    }

    func memory(for referenceId: Int64) throws -> EncodedMemory { try base.memory(for: referenceId) }
    func text(for referenceId: Int64) throws -> String { try base.text(for: referenceId) }
}
