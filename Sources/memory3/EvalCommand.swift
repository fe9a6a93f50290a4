import ArgumentParser
import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Measure how much memory helps: exact match, answer log-prob and recall@k per mode.",
        discussion: """
        Builds a temporary store from the set's references, answers every question greedily (8 tokens) \
        in each mode, and prints a table; with --json the last line is \
        {"off":{"exact_match":..,"answer_logprob":..,"recall_at_k":..},"text":{..},"explicit":{..}}.
        The set format is shared/eval/fictional-public.json: references[{id,text}], questions[{ref,prompt,answer,kind?}]; with kinds, exact match is also given per kind (stderr; "exact_match_by_kind" in the JSON).
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var retrieverOptions: RetrieverOptions

    @Option(help: "The eval set (JSON).")
    var set: String

    @Option(help: "Comma-separated modes: off, text, explicit, gold (the gold reference's text before the question: the model's ceiling), explicit-gold (the gold reference's memory alone: reading with perfect retrieval).")
    var modes = "off,text,explicit"

    @Option(help: "Memories (or RAG references) per chunk.")
    var k = 5

    @Option(help: "Memory profile: compact, dense, paper, or custom:layers=0-14,tokens=16,selection=attention|keyNorm|h2o|evolved.")
    var profile = "dense"

    @Option(help: "Memory codec: int8, fp16, int4, int3, int2, or the rotated int3r and int2r (default: the profile's own, compact's int3; else the model's: int3r for llama (SmolLM2), int2 for Gemma 3, int8 for others).")
    var codec: String?

    @Option(help: "Rerank with the retrieval head: auto (when calibrated), head, none.")
    var rerank = "auto"

    @Option(help: "Attention-logit bias of every memory but the first (0 = plain concatenation).")
    var rankBias: Float = -4

    @Option(help: "With the head: weight of the retrieval score (over the best) added to the head's mass share (0 = head alone).")
    var retrieverWeight: Float = MemoryReadingPolicy().retrieverWeight

    @Option(help: "Use the score-ratio bias beta*(s/s_max - 1) instead of the rank bias.")
    var scoreRatioBeta: Float?

    @Option(help: "Drop memories whose score is below this fraction of the best.")
    var gate: Double?

    @Option(help: "RoPE position where the context starts, memories sitting below it (default: 512; 128 for a model with sliding-window layers).")
    var contextOffset: Int?

    @Flag(help: "Swap the gold reference's rank and score with the best distractor's in every retrieval.")
    var swapGold = false

    @Option(help: "Only the first N questions.")
    var limit: Int?

    @Flag(help: "Store low-bit memories without int8 keys in the retrieval head's layer (to measure what they buy).")
    var noInt8KeyLayers = false

    @Flag(help: "Print the scores as JSON on the last line.")
    var json = false

    func run() throws {
        let modeList = try modes.split(separator: ",").map { raw -> (name: String, mode: MemoryMode, gold: Bool) in
            let name = raw.trimmingCharacters(in: .whitespaces)
            if name == "gold" { return (name, .off, true) }
            if name == "explicit-gold" { return (name, .explicit, true) }
            guard let mode = MemoryMode(rawValue: name) else {
                throw ValidationError("unknown mode '\(name)' (modes: off, text, explicit, gold, explicit-gold)")
            }
            return (name, mode, false)
        }
        var evalSet = try EvalSet.load(path: set)
        if let limit { evalSet.questions = Array(evalSet.questions.prefix(limit)) }
        let (model, tokenizer, _) = try modelOptions.load()
        // Memories are stored as the server stores them: with the calibrated head's layer's keys at int8.
        let settings = ModelSettings.load(forModel: modelOptions.model, fingerprint: ModelFingerprint.of(model.file))
        let built = try EvalStore.build(set: evalSet, model: model, tokenizer: tokenizer,
                                        profile: try MemoryProfile(parsing: profile), codec: try storageCodec(try MemoryProfile(parsing: profile), requested: codec, model: model.config),
                                        int8KeyLayers: noInt8KeyLayers ? [] : settings?.int8KeyLayers ?? [],
                                        dense: try retrieverOptions.loadDense(threads: model.threads), retriever: retrieverOptions.kind, verbose: true)
        defer { built.remove() }

        var policy = MemoryReadingPolicy.defaults(for: model.config)
        policy.memoriesPerChunk = k
        policy.rankBias = rankBias
        policy.retrieverWeight = retrieverWeight
        policy.scoreRatioBeta = scoreRatioBeta
        policy.gateRatio = gate
        if let contextOffset { policy.contextOffset = contextOffset }
        switch rerank {
        case "none": policy.retrievalHead = nil
        case "auto", "head":
            policy.retrievalHead = settings?.retrievalHead
            if rerank == "head" && policy.retrievalHead == nil {
                throw CLIError("no retrieval head for this model: run `memory3 calibrate --set FILE` first")
            }
        default: throw ValidationError("--rerank must be auto, head or none")
        }
        if let head = policy.retrievalHead { stderrLine("reranking with the retrieval head: layer \(head.layer), head \(head.head)") }

        var evaluation = Evaluation(generator: MemoryGenerator(model: model, tokenizer: tokenizer, source: built.source, policy: policy),
                                    source: built.source, referenceIds: built.referenceIds)
        evaluation.swapGoldWithBestDistractor = swapGold
        var results: [String: EvalScores] = [:]
        print("| mode | exact match | answer log-prob | recall@\(k) |")
        print("| --- | --- | --- | --- |")
        for (name, mode, gold) in modeList {
            let started = Date()
            let scores = try evaluation.run(evalSet, mode: mode, goldInPrompt: gold && mode == .off,
                                            goldMemoryOnly: gold && mode == .explicit) { done, total in
                stderrLine("\r\(name): \(done)/\(total)", newline: done == total)
            }
            results[name] = scores
            print(String(format: "| %@ | %.1f%% | %.2f | %.1f%% |", name, scores.exact_match * 100,
                         scores.answer_logprob, scores.recall_at_k * 100))
            if let byKind = scores.exact_match_by_kind {
                stderrLine("\(name) by kind: " + byKind.sorted { $0.key < $1.key }
                    .map { String(format: "%@ %.1f%%", $0.key, $0.value * 100) }.joined(separator: ", "))
            }
            stderrLine(String(format: "%@ took %.1f s", name, Date().timeIntervalSince(started)))
        }
        if json { try JSONOutput.print(results) }
    }
}
