import ArgumentParser
import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model

struct BenchMemoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-memory",
        abstract: "Measure what memory costs: time to first token (explicit vs text) and decode with swaps (explicit vs off).",
        discussion: """
        Builds a temporary store from an eval set. Time to first token: a 64-token question with k retrieved \
        references, read as explicit memory (cold: memories decoded from the store; warm: from the cache) or as \
        text before the prompt (classic RAG). Decode: --gen-tokens tokens with memories swapped every 64 tokens \
        vs memory off. Runs alternate (A B A B ...) after a warm-up; medians and ratios are printed.
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var retrieverOptions: RetrieverOptions

    @Option(help: "The eval set whose references fill the store.")
    var set: String = "../shared/eval/fictional-public.json"

    @Option(help: "References per chunk.")
    var k = 5

    @Option(help: "Alternating runs per measurement.")
    var runs = 5

    @Option(help: "Tokens to decode in the decode measurement.")
    var genTokens = 256

    @Option(help: "Memory profile the store is built with: compact, dense, paper, or custom:...")
    var profile = "dense"

    @Option(help: "Memory codec (default: the profile's own, else the model's: int3r for llama, int2 for Gemma 3, int8 for others).")
    var codec: String?

    @Flag(help: "Print the results as JSON on the last line.")
    var json = false

    func run() throws {
        let evalSet = try EvalSet.load(path: set)
        let (model, tokenizer, _) = try modelOptions.load()
        let dense = try retrieverOptions.loadDense(threads: model.threads)
        let memoryProfile = try MemoryProfile(parsing: profile)
        let built = try EvalStore.build(set: evalSet, model: model, tokenizer: tokenizer, profile: memoryProfile,
                                        codec: try storageCodec(memoryProfile, requested: codec, model: model.config),
                                        int8KeyLayers: ModelSettings.load(forModel: modelOptions.model, fingerprint: ModelFingerprint.of(model.file))?.int8KeyLayers ?? [],
                                        dense: dense, retriever: retrieverOptions.kind, verbose: true)
        defer { built.remove() }
        var policy = MemoryReadingPolicy.defaults(for: model.config)
        policy.memoriesPerChunk = k
        policy.retrievalHead = ModelSettings.load(forModel: modelOptions.model, fingerprint: built.fingerprint)?.retrievalHead

        // A 64-token question made of the set's questions.
        var question: [Int] = []
        for q in evalSet.questions where question.count < 64 {
            question += tokenizer.encode(q.prompt + ".", parseSpecial: false, addBOS: question.isEmpty ? nil : false)
        }
        question = Array(question.prefix(64))

        func generator(_ source: MemorySource) -> MemoryGenerator {
            MemoryGenerator(model: model, tokenizer: tokenizer, source: source, policy: policy)
        }
        let warm = generator(built.source)
        func timeFirstToken(_ g: MemoryGenerator, _ mode: MemoryMode) throws -> Double {
            let start = Date()
            _ = try g.generate(prompt: question, mode: mode, options: GenerationOptions(maxTokens: 1, sampling: .greedy))
            return Date().timeIntervalSince(start)
        }
        func coldSource() -> StoreMemorySource {
            StoreMemorySource(store: built.store, profile: memoryProfile.name, modelFingerprint: built.fingerprint, dense: dense,
                              defaultRetriever: retrieverOptions.kind)
        }
        _ = try timeFirstToken(warm, .explicit)
        _ = try timeFirstToken(warm, .text)
        var explicitCold: [Double] = [], explicitWarm: [Double] = [], text: [Double] = []
        for _ in 0 ..< runs {
            explicitCold.append(try timeFirstToken(generator(coldSource()), .explicit))
            explicitWarm.append(try timeFirstToken(warm, .explicit))
            text.append(try timeFirstToken(warm, .text))
        }

        var options = GenerationOptions(maxTokens: genTokens, sampling: .greedy)
        options.stopAtEndOfGeneration = false
        func decodeRate(_ mode: MemoryMode) throws -> Double {
            let r = try warm.generate(prompt: question, mode: mode, options: options)
            return Double(r.generation.tokens.count) / r.generation.decodeSeconds
        }
        _ = try decodeRate(.explicit)
        var explicitDecode: [Double] = [], offDecode: [Double] = []
        for _ in 0 ..< runs {
            explicitDecode.append(try decodeRate(.explicit))
            offDecode.append(try decodeRate(.off))
        }

        let result = BenchMemoryResult(
            ttft_explicit_cold_s: median(explicitCold), ttft_explicit_warm_s: median(explicitWarm), ttft_text_s: median(text),
            decode_explicit_tps: median(explicitDecode), decode_off_tps: median(offDecode),
            question_tokens: question.count, k: k, gen_tokens: genTokens, runs: runs,
            reranked: policy.retrievalHead != nil)
        print("| measurement | explicit | baseline | ratio |")
        print("| --- | --- | --- | --- |")
        print(String(format: "| time to first token, cold memories (s) | %.3f | %.3f (text) | %.2fx |",
                     result.ttft_explicit_cold_s, result.ttft_text_s, result.ttft_explicit_cold_s / result.ttft_text_s))
        print(String(format: "| time to first token, cached memories (s) | %.3f | %.3f (text) | %.2fx |",
                     result.ttft_explicit_warm_s, result.ttft_text_s, result.ttft_explicit_warm_s / result.ttft_text_s))
        print(String(format: "| decode tok/s, swaps every 64 | %.1f | %.1f (off) | %.2fx |",
                     result.decode_explicit_tps, result.decode_off_tps, result.decode_explicit_tps / result.decode_off_tps))
        if json { try JSONOutput.print(result) }
    }
}

struct BenchMemoryResult: Encodable {
    let ttft_explicit_cold_s: Double
    let ttft_explicit_warm_s: Double
    let ttft_text_s: Double
    let decode_explicit_tps: Double
    let decode_off_tps: Double
    let question_tokens: Int
    let k: Int
    let gen_tokens: Int
    let runs: Int
    let reranked: Bool
}
