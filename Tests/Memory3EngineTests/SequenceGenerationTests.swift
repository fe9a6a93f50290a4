import Memory3TestSupport
import Foundation
import GGUF
import Memory3Engine
import Memory3Model
import Tokenizer
import XCTest

/// The generation loop (one sequence stepped alone) on the real model: greedy output,
/// streaming, stops, limits, seeds.
final class SequenceGenerationTests: XCTestCase {
    /// Generation without memory, as `memory3 generate` runs it.
    struct Generator {
        let generator: MemoryGenerator
        var model: any DecoderModel { generator.model }
        var tokenizer: Tokenizer { generator.tokenizer }

        func generate(prompt: [Int], options: GenerationOptions, onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
            try generator.generate(prompt: prompt, mode: .off, options: options, onText: onText).generation
        }
    }

    nonisolated(unsafe) static var shared: Generator?

    func generator() throws -> Generator {
        if let g = Self.shared { return g }
        let file = try GGUFFile(path: try TestPaths.requireSmolLM2())
        let g = Generator(generator: MemoryGenerator(model: try LlamaModel(file: file), tokenizer: try Tokenizer(gguf: file), source: nil))
        Self.shared = g
        return g
    }

    func testGreedyGenerationOfTheFrancePromptMatchesLlamaCppAndStreamsTheSameText() throws {
        let g = try generator()
        let reference = try XCTUnwrap(try LlamaReference.load().greedy.first { $0.prompt == "The capital of France is" })
        let prompt = g.tokenizer.encode(reference.prompt)
        XCTAssertEqual(prompt, reference.prompt_ids)
        var streamed: [String] = []
        let result = try g.generate(prompt: prompt, options: GenerationOptions(maxTokens: 5, sampling: .greedy)) {
            streamed.append($0)
            return true
        }
        XCTAssertEqual(result.tokens, Array(reference.ids.prefix(5)))  // steps before the first near-tie
        XCTAssertTrue(result.text.hasPrefix(" Paris"))
        XCTAssertEqual(streamed.joined(), result.text)
        XCTAssertEqual(result.finishReason, .length)
        XCTAssertEqual(result.promptTokenCount, prompt.count)
    }

    func testStopStringEndsGenerationAndIsNotReturned() throws {
        let g = try generator()
        let prompt = g.tokenizer.encode("The capital of France is")
        var options = GenerationOptions(maxTokens: 20, sampling: .greedy)
        options.stop = ["."]
        let result = try g.generate(prompt: prompt, options: options)
        XCTAssertEqual(result.text, " Paris")
        XCTAssertEqual(result.finishReason, .stopString)
    }

    func testChatAnswerEndsAtEndOfTurn() throws {
        let g = try generator()
        let template = try ChatTemplate.detect(from: g.model.file.metadata["tokenizer.chat_template"]?.stringValue)
        let text = template.render([ChatMessage(role: "user", content: "Say hello.")], addGenerationPrompt: true)
        let result = try g.generate(prompt: g.tokenizer.encode(text), options: GenerationOptions(maxTokens: 200, sampling: .greedy))
        XCTAssertEqual(result.finishReason, .endOfSequence, "text: \(result.text)")
        XCTAssertFalse(result.text.contains("<|im_end|>"))
        XCTAssertFalse(result.text.isEmpty)
    }

    func testSameSeedSameTextAndCancellationStopsEarly() throws {
        let g = try generator()
        let prompt = g.tokenizer.encode("Once upon a time")
        var sampling = SamplingParameters()
        sampling.temperature = 1.0
        sampling.seed = 1234
        let a = try g.generate(prompt: prompt, options: GenerationOptions(maxTokens: 12, sampling: sampling))
        let b = try g.generate(prompt: prompt, options: GenerationOptions(maxTokens: 12, sampling: sampling))
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.seed, 1234)
        XCTAssertEqual(a.tokens.count, 12)

        var pieces = 0
        let cancelled = try g.generate(prompt: prompt, options: GenerationOptions(maxTokens: 50, sampling: sampling)) { _ in
            pieces += 1
            return pieces < 3
        }
        XCTAssertEqual(cancelled.finishReason, .cancelled)
        XCTAssertLessThanOrEqual(cancelled.tokens.count, 6)
    }
}
