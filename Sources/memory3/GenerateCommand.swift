import ArgumentParser
import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model
import MemoryStore
import Tokenizer

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text after a prompt, streaming it to stdout.",
        discussion: "With --temperature 0 the output is greedy and reproducible; otherwise --seed makes it reproducible."
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var retrieverOptions: RetrieverOptions

    @Option(name: .shortAndLong, help: "The prompt (or the user message with --chat).")
    var prompt: String

    @Option(help: "Most tokens to generate.")
    var maxTokens = 128

    @Option(help: "Sampling temperature; 0 is greedy.")
    var temperature: Float = 0.8

    @Option(help: "Keep the k most likely tokens (0 = all).")
    var topK = 40

    @Option(help: "Nucleus sampling: keep tokens up to this cumulative probability.")
    var topP: Float = 0.95

    @Option(help: "Drop tokens less likely than this fraction of the best one.")
    var minP: Float = 0.05

    @Option(help: "Penalty on repeated tokens (1 = off).")
    var repeatPenalty: Float = 1.0

    @Option(help: "Frequency penalty (OpenAI style).")
    var frequencyPenalty: Float = 0

    @Option(help: "Presence penalty (OpenAI style).")
    var presencePenalty: Float = 0

    @Option(help: "Random seed (default: random; printed with --json).")
    var seed: UInt64?

    @Option(help: "Stop before this string (repeatable).")
    var stop: [String] = []

    @Flag(help: "Wrap the prompt as a user message in the model's chat template.")
    var chat = false

    @Option(help: "System message for --chat (default: the template's own).")
    var system: String?

    @Option(help: "A memory store (made by `memory3 ingest`) to read from.")
    var db: String?

    @Option(help: "How to use the store: explicit (memory), text (RAG) or off. Default: explicit with --db.")
    var memory: String?

    @Option(help: "Memories (or RAG references) per 64-token chunk.")
    var k = 5

    @Option(help: "The memory profile the store was ingested with.")
    var profile = "dense"

    @Flag(help: "Print one JSON object with the text, token ids, finish reason, timings and the memories used.")
    var json = false

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
        if let memory, MemoryMode(rawValue: memory) == nil { throw ValidationError("--memory must be explicit, text or off") }
        if memory != nil && memory != "off" && db == nil { throw ValidationError("--memory needs --db") }
        guard k >= 1 && k <= 32 else { throw ValidationError("--k must be between 1 and 32") }
        if let message = sampling.validationError() { throw ValidationError(message) }
    }

    var sampling: SamplingParameters {
        var s = SamplingParameters()
        s.temperature = temperature
        s.topK = topK
        s.topP = topP
        s.minP = minP
        s.repetitionPenalty = repeatPenalty
        s.frequencyPenalty = frequencyPenalty
        s.presencePenalty = presencePenalty
        s.seed = seed
        return s
    }

    func run() throws {
        let (model, tokenizer, loadSeconds) = try modelOptions.load()
        var promptTokens: [Int]
        var retrievable: [Bool]?
        if chat {
            let template = try ChatTemplate.detect(from: model.file.metadata["tokenizer.chat_template"]?.stringValue)
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            let chatPrompt = ChatPrompt(template: template, messages: messages, tokenizer: tokenizer)
            promptTokens = chatPrompt.tokens
            retrievable = chatPrompt.retrievable
        } else {
            // A plain prompt is plain text: control-token spellings in it are not parsed.
            promptTokens = tokenizer.encode(prompt, parseSpecial: false)
        }
        guard !promptTokens.isEmpty else { throw CLIError("the prompt is empty") }

        let mode = memory.flatMap(MemoryMode.init(rawValue:)) ?? (db == nil ? .off : .explicit)
        var source: StoreMemorySource?
        var policy = MemoryReadingPolicy.defaults(for: model.config)
        policy.memoriesPerChunk = k
        if let db, mode != .off {
            let fingerprint = ModelFingerprint.of(model.file)
            // A read-only store is not backfilled: references stored without a vector (before the encoder)
            // are found by BM25 (alone, or as hybrid's BM25 side) and never by dense retrieval.
            source = StoreMemorySource(store: try MemoryStore(path: db, readOnly: true), profile: profile, modelFingerprint: fingerprint,
                                       dense: try retrieverOptions.loadDense(threads: model.threads), defaultRetriever: retrieverOptions.kind)
            policy.retrievalHead = ModelSettings.load(forModel: modelOptions.model, fingerprint: fingerprint)?.retrievalHead
        }
        let generator = MemoryGenerator(model: model, tokenizer: tokenizer, source: source, policy: policy)
        let options = GenerationOptions(maxTokens: maxTokens, sampling: sampling, stop: stop)
        let result = try generator.generate(prompt: promptTokens, retrievable: retrievable, mode: mode, options: options) { piece in
            if !json {
                FileHandle.standardOutput.write(piece.data(using: .utf8)!)
            }
            return true
        }
        let generation = result.generation
        if json {
            try JSONOutput.print(GenerateOutput(
                text: generation.text, prompt_tokens: promptTokens, tokens: generation.tokens,
                finish_reason: generation.finishReason.rawValue, seed: generation.seed,
                load_s: loadSeconds, prefill_s: generation.prefillSeconds, decode_s: generation.decodeSeconds,
                decode_tps: generation.decodeSeconds > 0 ? Double(generation.tokens.count) / generation.decodeSeconds : 0,
                peak_rss_mb: peakResidentMegabytes(), memory_mode: mode.rawValue, memory_chunks: result.chunks))
        } else {
            print()
            for chunk in result.chunks where !chunk.references.isEmpty {
                let refs = chunk.references.map { String(format: "ref %lld (doc %lld, %.2f)", $0.referenceId, $0.documentId, $0.score) }
                stderrLine("[\(chunk.phase.rawValue) tokens \(chunk.firstToken)+\(chunk.tokenCount)] \(refs.joined(separator: ", "))")
            }
        }
    }
}

struct GenerateOutput: Encodable {
    let text: String
    let prompt_tokens: [Int]
    let tokens: [Int]
    let finish_reason: String
    let seed: UInt64
    let load_s: Double
    let prefill_s: Double
    let decode_s: Double
    let decode_tps: Double
    let peak_rss_mb: Double
    let memory_mode: String
    let memory_chunks: [ChunkRecord]
}
