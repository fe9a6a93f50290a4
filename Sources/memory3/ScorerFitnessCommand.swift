import ArgumentParser
import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model

/// The fitness function of the evolved token scorer, as a process an optimiser talks to: it reads
/// a set's references once (dense memory and token features), then for every line of feature
/// weights on stdin keeps each row's best tokens under those weights, reads every question with
/// its gold memory alone, and prints the mean answer log-probability. `scripts/evolve-token-scorer.py`
/// drives it with CMA-ES.
struct ScorerFitnessCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scorer-fitness",
        abstract: "Score token-scorer weights: mean gold-answer log-prob at a token budget (for CMA-ES).",
        discussion: """
        stdin: one JSON array of \(TokenFeatures.count) weights per line (features: \
        \(TokenFeatures.Feature.allCases.map { "\($0)" }.joined(separator: ", "))). \
        stdout: one line per input, {"answer_logprob":..,"exact_match":..(with --exact), \
        "mb_per_128_tokens":..(with --codec: stored blob bytes per 128 reference tokens; with \
        --codebooks: the codes alone)}. \
        A line "h2o", "keyNorm" or "evolved" scores that hand-written or shipped rule instead; \
        "shared [..]" keeps the same tokens in every row (the weighted score averaged over rows).
        """)

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "The set (JSON, the eval-set format): a generated training set, never a public eval set.")
    var set: String

    @Option(help: "Body tokens each (layer, KV head) keeps: a count, a fraction (0.25) or a percentage (25%).")
    var tokens: String = "25%"

    @Option(help: "Memory codec the kept tokens go through (none: exact floats).")
    var codec: String = "none"

    @Option(help: "Only the first N questions.")
    var limit: Int?

    @Flag(help: "Also answer greedily and report exact match (slower).")
    var exact = false

    @Option(help: ArgumentHelp("Instead of scoring: write every reference's dense key/values here and exit.",
                               discussion: "Per reference: rows, tokens, head dim, prefix tokens (int32), positions (int32), keys, values (float32, [rows][tokens][headDim]); what scripts/fit-kv-codebooks.py reads."))
    var dumpKV: String?

    @Option(help: "Product-quantization codebooks (scripts/fit-kv-codebooks.py) the kept tokens go through instead of a codec.")
    var codebooks: String?

    @Option(help: "Which tensors go through --codebooks: both, keys or values (the other stays exact).")
    var codebookSides: ProductCodebooks.Sides = .both

    func run() throws {
        var evalSet = try EvalSet.load(path: set)
        if let limit { evalSet.questions = Array(evalSet.questions.prefix(limit)) }
        let budget = try MemoryProfile.parseBudget(tokens)
        let codec = self.codec == "none" ? nil : try MemoryCodec(parsing: self.codec)
        guard codec == nil || codebooks == nil else { throw CLIError("--codec and --codebooks each code the memory: pick one") }
        let (model, tokenizer, _) = try modelOptions.load()
        let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: .dense)
        let fingerprint = ModelFingerprint.of(model.file)
        let started = Date()
        // A dump needs the key/values alone, not the token features (surprise reads every token's logits).
        let readings = try evalSet.references.map { try encoder.read(bodyTokens: encoder.bodyTokens($0.text), features: dumpKV == nil) }
        stderrLine(String(format: "read %d references%@ in %.1f s", readings.count, dumpKV == nil ? " with features" : "", Date().timeIntervalSince(started)))
        if let dumpKV {
            try Self.writeDenseKeyValues(readings.map(\.dense), to: dumpKV)
            stderrLine("wrote the dense key/values of \(readings.count) references to \(dumpKV)")
            return
        }
        let codebooks = try self.codebooks.map { try ProductCodebooks(path: $0) }
        let policy = MemoryReadingPolicy.defaults(for: model.config)
        let prompts = evalSet.questions.map { tokenizer.encode($0.prompt, parseSpecial: false) }
        let answers = evalSet.questions.map { tokenizer.encode($0.answer, parseSpecial: false, addBOS: false) }

        while let line = readLine() {
            let text = line.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            let rule: (MemoryEncoder.Reading) -> [[Float]]
            if let named = MemoryProfile.TokenSelection.allCases.first(where: { "\($0)" == text }) {
                guard named != .attention else { throw CLIError("attention (the paper's rule) needs pre-RoPE projections: use memory3 eval") }
                rule = { reading in encoder.rowScores(named, of: reading) }
            } else {
                // "shared [..]": every row keeps the same tokens, those of best score averaged over rows.
                let shared = text.hasPrefix("shared ")
                let json = shared ? String(text.dropFirst("shared ".count)) : text
                guard let weights = try? JSONDecoder().decode([Float].self, from: Data(json.utf8)),
                      weights.count == TokenFeatures.count, weights.allSatisfy(\.isFinite) else {
                    throw CLIError("expected [shared] a JSON array of \(TokenFeatures.count) finite numbers, got: \(text.prefix(80))")
                }
                rule = { reading in
                    let features = reading.features!
                    let rows = (0 ..< features.rows).map { features.scores(row: $0, weights: weights) }
                    guard shared else { return rows }
                    let mean = (0 ..< features.bodyTokens).map { t in rows.reduce(Float(0)) { $0 + $1[t] } / Float(rows.count) }
                    return [[Float]](repeating: mean, count: rows.count)
                }
            }
            var memories: [Int: EncodedMemory] = [:]
            var blobBytes = 0, bodyTokens = 0
            for (reading, reference) in zip(readings, evalSet.references) {
                let kept = budget.tokens(of: reading.dense.tokenCount - reading.dense.prefixTokenCount)
                var memory = MemoryEncoder.select(kept, of: reading.dense, rowScores: rule(reading))
                if let codebooks {
                    memory = try codebooks.reconstruct(memory, sides: codebookSides)
                    blobBytes += codebooks.codeBytes(vectors: memory.rowCount * memory.tokenCount)
                } else if let codec {
                    let blob = try codec.encode(memory, profile: "fitness", fingerprint: fingerprint)
                    blobBytes += blob.count
                    memory = try MemoryCodec.decode(blob, expectedFingerprint: nil).memory
                }
                bodyTokens += reading.dense.tokenCount - reading.dense.prefixTokenCount
                memories[reference.id] = memory
            }
            var logProbability = 0.0, right = 0
            for (i, question) in evalSet.questions.enumerated() {
                let source = GoldMemorySource(memory: memories[question.ref]!)
                let generator = MemoryGenerator(model: model, tokenizer: tokenizer, source: source, policy: policy)
                logProbability += try generator.continuationLogProbability(prompt: prompts[i], continuation: answers[i], mode: .explicit).logProbability
                if exact, question.isAnswered(by: try Evaluation.answer(prompts[i], with: generator, mode: .explicit,
                                                                         tokens: Evaluation.defaultAnswerTokens)) {
                    right += 1
                }
            }
            let n = Double(max(1, evalSet.questions.count))
            var result: [String: Double] = ["answer_logprob": logProbability / n]
            if exact { result["exact_match"] = Double(right) / n }
            if codec != nil || codebooks != nil { result["mb_per_128_tokens"] = Double(blobBytes) / Double(max(1, bodyTokens)) * 128 / 1e6 }
            // Written unbuffered: the optimiser waits for each line.
            let output = JSONEncoder()
            output.outputFormatting = .sortedKeys
            FileHandle.standardOutput.write(try output.encode(result) + Data("\n".utf8))
        }
    }
}

extension ScorerFitnessCommand {
    /// The `--dump-kv` file: for each memory its shape, positions, keys and values, little-endian.
    static func writeDenseKeyValues(_ memories: [EncodedMemory], to path: String) throws {
        var out = Data()
        func put<T>(_ xs: [T]) { xs.withUnsafeBytes { out.append(contentsOf: $0) } }
        for m in memories {
            put([Int32(m.rowCount), Int32(m.tokenCount), Int32(m.headDim), Int32(m.prefixTokenCount)])
            put(m.positions)
            put(m.keys)
            put(m.values)
        }
        try out.write(to: URL(fileURLWithPath: path))
    }
}

/// Retrieval that always returns the one memory it holds (perfect retrieval of the gold reference).
private struct GoldMemorySource: MemorySource {
    let memory: EncodedMemory

    func retrieve(_ query: String, limit: Int, retriever: RetrieverKind?) throws -> [RetrievedReference] {
        [RetrievedReference(referenceId: 1, documentId: 1, score: 1)]
    }

    func memory(for referenceId: Int64) throws -> EncodedMemory { memory }
    func text(for referenceId: Int64) throws -> String { "" }
}

extension ProductCodebooks.Sides: ExpressibleByArgument {}
