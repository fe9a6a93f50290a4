import ArgumentParser
import Foundation
import Memory3Model

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure prefill and decode speed.",
        discussion: "After an untimed warm-up (the prompt and one token, as llama-bench does; --no-warmup skips it), prefills a prompt of --prompt-tokens tokens, then decodes --gen-tokens tokens greedily; reports tokens/s, load time and peak RSS."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "Prompt length in tokens.")
    var promptTokens = 512

    @Option(help: "Tokens to generate.")
    var genTokens = 128

    @Option(help: "Runs to take the median of.")
    var repetitions = 1

    @Option(help: "Limit the C kernels to a family: scalar, avx2, vnni or avx512 (default: the best the CPU has).")
    var kernels: String?

    @Flag(help: "Print one JSON object.")
    var json = false

    @Flag(inversion: .prefixedNo, help: "Run the prompt and one decode step once, untimed, before measuring (as llama-bench does by default).")
    var warmup = true

    func validate() throws {
        guard promptTokens >= 1, genTokens >= 1, repetitions >= 1 else {
            throw ValidationError("--prompt-tokens, --gen-tokens and --repetitions must be >= 1")
        }
    }

    static let benchText = """
    The lighthouse keeper climbed the spiral stairs every evening at dusk, carrying a can of oil and a \
    cloth for the lens. Ships passing the rocky headland relied on the beam to find the channel between \
    the reefs, and the keeper logged the weather, the passing vessels and the hours the lamp burned. \
    In 1874 the station received a new Fresnel lens, ground in Paris, which threw the light twenty miles \
    out to sea.
    """

    @Flag(help: "Also print where a token's time goes: matmuls, attention, norms, RoPE, activation, sampling (timers around each phase of the forward step; a few % slower).")
    var profile = false

    func run() throws {
        if let kernels {
            guard let family = ComputeKernels(rawValue: kernels) else {
                throw ValidationError("--kernels must be scalar, avx2, vnni or avx512")
            }
            ComputeKernels.limit(to: family)
        }
        let (model, tokenizer, loadSeconds) = try modelOptions.load()
        var prompt: [Int] = []
        let piece = tokenizer.encode(Self.benchText, parseSpecial: false, addBOS: false)
        if tokenizer.addsBOS, let bos = tokenizer.bosTokenId { prompt.append(bos) }
        while prompt.count < promptTokens { prompt += piece }
        prompt = Array(prompt.prefix(promptTokens))
        guard prompt.count + genTokens <= model.config.contextLength else {
            throw CLIError("prompt + generated tokens exceed the model's context (\(model.config.contextLength))")
        }

        if warmup {
            // llama-bench's warm-up: the whole prompt, then one generated token, on a context that
            // is then dropped. A fresh process's first step pays for first touches of scratch and
            // cache pages and for starting the worker threads, which a serving process pays once.
            let cache = model.makeCache(capacity: prompt.count + 1)
            let logits = try model.forward(prompt, cache: cache)
            _ = try model.forward([Sampler.argmax(logits)], cache: cache)
        }
        var prefillRates: [Double] = [], decodeRates: [Double] = []
        let prefillProfile = profile ? StepProfile() : nil, decodeProfile = profile ? StepProfile() : nil
        defer { StepProfile.active = nil }
        for _ in 0 ..< repetitions {
            let cache = model.makeCache(capacity: prompt.count + genTokens)
            StepProfile.active = prefillProfile
            let t0 = Date()
            prefillProfile?.start()
            var logits = try model.forward(prompt, cache: cache)
            let t1 = Date()
            StepProfile.active = decodeProfile
            for _ in 0 ..< genTokens {
                decodeProfile?.start()
                let token = Sampler.argmax(logits)
                decodeProfile?.lap(.sampling)
                logits = try model.forward([token], cache: cache)
            }
            let t2 = Date()
            prefillRates.append(Double(prompt.count) / t1.timeIntervalSince(t0))
            decodeRates.append(Double(genTokens) / t2.timeIntervalSince(t1))
        }
        let result = BenchResult(
            prefill_tps: median(prefillRates), decode_tps: median(decodeRates), load_s: loadSeconds,
            peak_rss_mb: peakResidentMegabytes(), threads: model.threads, kernels: ComputeKernels.active.rawValue,
            prompt_tokens: prompt.count, gen_tokens: genTokens, alone_periods: Parallel.contentionPeriods(threads: model.threads))
        if json {
            try JSONOutput.print(result)
        } else {
            print(String(format: "prefill %.1f tok/s, decode %.1f tok/s, load %.2f s, peak RSS %.0f MB (%d threads; %d periods on one thread for contention)",
                         result.prefill_tps, result.decode_tps, result.load_s, result.peak_rss_mb, result.threads, result.alone_periods))
        }
        if let prefillProfile, let decodeProfile {
            let prefillTokens = Double(prompt.count * repetitions), decodeTokens = Double(genTokens * repetitions)
            print("")
            print("where a token's time goes (wall clock on the calling thread; a parallel phase counts until its last chunk ends):")
            print("| phase | prefill us/token | prefill % | decode us/token | decode % |")
            print("| --- | --- | --- | --- | --- |")
            let prefillSum = StepProfile.Phase.allCases.reduce(0) { $0 + prefillProfile.seconds($1) }
            let decodeSum = StepProfile.Phase.allCases.reduce(0) { $0 + decodeProfile.seconds($1) }
            for phase in StepProfile.Phase.allCases {
                let p = prefillProfile.seconds(phase), d = decodeProfile.seconds(phase)
                print(String(format: "| %@ | %.1f | %.1f | %.1f | %.1f |", phase.label, p / prefillTokens * 1e6, 100 * p / prefillSum,
                             d / decodeTokens * 1e6, 100 * d / decodeSum))
            }
            print(String(format: "| total | %.1f | 100 | %.1f | 100 |", prefillSum / prefillTokens * 1e6, decodeSum / decodeTokens * 1e6))
        }
    }
}

struct BenchResult: Encodable {
    let prefill_tps: Double
    let decode_tps: Double
    let load_s: Double
    let peak_rss_mb: Double
    let threads: Int
    let kernels: String
    let prompt_tokens: Int
    let gen_tokens: Int
    /// Times the worker pool ran its loops on one thread because a worker was being descheduled.
    let alone_periods: Int
}
