import ArgumentParser
import Foundation
import Memory3Model
import Tokenizer

struct GenerateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Generate text after a prompt, streaming it to stdout.",
        discussion: "With --temperature 0 the output is greedy and reproducible; otherwise --seed makes it reproducible."
    )

    @OptionGroup var modelOptions: ModelOptions

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

    @Flag(help: "Print one JSON object with the text, token ids, finish reason and timings.")
    var json = false

    func validate() throws {
        guard maxTokens >= 0 else { throw ValidationError("--max-tokens must be >= 0") }
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
        var text = prompt
        if chat {
            let template = try ChatTemplate.detect(from: model.file.metadata["tokenizer.chat_template"]?.stringValue)
            var messages: [ChatMessage] = []
            if let system { messages.append(ChatMessage(role: "system", content: system)) }
            messages.append(ChatMessage(role: "user", content: prompt))
            text = template.render(messages, addGenerationPrompt: true)
        }
        // Control tokens are parsed only in template-made text; a plain prompt is plain text.
        let promptTokens = tokenizer.encode(text, parseSpecial: chat)
        guard !promptTokens.isEmpty else { throw CLIError("the prompt is empty") }

        let generator = TextGenerator(model: model, tokenizer: tokenizer)
        let options = GenerationOptions(maxTokens: maxTokens, sampling: sampling, stop: stop)
        let result = try generator.generate(prompt: promptTokens, options: options) { piece in
            if !json {
                FileHandle.standardOutput.write(piece.data(using: .utf8)!)
            }
            return true
        }
        if json {
            try JSONOutput.print(GenerateOutput(
                text: result.text, prompt_tokens: promptTokens, tokens: result.tokens,
                finish_reason: result.finishReason.rawValue, seed: result.seed,
                load_s: loadSeconds, prefill_s: result.prefillSeconds, decode_s: result.decodeSeconds,
                decode_tps: result.decodeSeconds > 0 ? Double(result.tokens.count) / result.decodeSeconds : 0,
                peak_rss_mb: peakResidentMegabytes()))
        } else {
            print()
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
}
