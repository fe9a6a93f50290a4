import Memory3TestSupport
import Memory3Engine
import Memory3Memory
import Memory3Model
import XCTest

final class MemoryCadenceTests: XCTestCase {
    func makeSetup(script: @escaping @Sendable (Int, String) -> [RetrievedReference]) throws -> (LlamaModel, MemoryGenerator, FakeMemorySource) {
        var factory = TinyLlamaFactory()
        factory.contextLength = 1024
        let model = try factory.makeModel()
        let references: [Int64: [Int]] = [1: [1, 5, 6, 7, 8], 2: [1, 9, 10, 11], 3: [1, 12, 13, 14, 15, 16], 4: [1, 20, 21]]
        let source = try FakeMemorySource(model: model, references: references, script: script)
        var policy = MemoryReadingPolicy()
        policy.contextOffset = 32
        let generator = MemoryGenerator(model: model, tokenizer: try tinyTokenizer(), source: source, policy: policy)
        return (model, generator, source)
    }

    func testA200TokenGenerationRetrievesForEveryPromptChunkAndEvery64GeneratedTokens() throws {
        let (_, generator, source) = try makeSetup { call, _ in
            [RetrievedReference(referenceId: Int64(call % 4 + 1), documentId: 1, score: 2),
             RetrievedReference(referenceId: Int64((call + 1) % 4 + 1), documentId: 1, score: 1)]
        }
        let prompt = (0 ..< 150).map { 3 + $0 % 26 }
        var options = GenerationOptions(maxTokens: 200, sampling: .greedy)
        options.stopAtEndOfGeneration = false
        let result = try generator.generate(prompt: prompt, mode: .explicit, options: options)
        XCTAssertEqual(result.generation.tokens.count, 200)
        // Prompt chunks at 0, 64, 128; generated token g is fed at 150 + g, with swaps at g = 64, 128, 192
        // (the 200th token is sampled, never fed).
        XCTAssertEqual(result.chunks.map(\.firstToken), [0, 64, 128, 214, 278, 342])
        XCTAssertEqual(result.chunks.map(\.phase), [.prompt, .prompt, .prompt, .generation, .generation, .generation])
        XCTAssertEqual(result.chunks.map(\.tokenCount), [64, 64, 22, 1, 1, 1])
        XCTAssertEqual(source.queries.count, 6)
        // A generation query is the text of the last 64 tokens.
        XCTAssertEqual(result.chunks[3].query.count, 64)
        XCTAssertEqual(result.chunks[0].references.map(\.bias), [0, -4], "rank bias: 0 for the best, -4 for the rest")
    }

    func testEachPromptChunkAttendsOnlyToItsOwnMemories() throws {
        // Chunk 0 gets references 1 and 2, chunk 1 gets 3 and 4.
        let (model, generator, source) = try makeSetup { call, _ in
            call == 0
                ? [RetrievedReference(referenceId: 1, documentId: 1, score: 3), RetrievedReference(referenceId: 2, documentId: 1, score: 1)]
                : [RetrievedReference(referenceId: 3, documentId: 2, score: 5), RetrievedReference(referenceId: 4, documentId: 2, score: 4)]
        }
        let prompt = (0 ..< 80).map { 3 + ($0 * 7) % 26 }
        let continuation = [4, 5, 6]
        let (logProbability, chunks) = try generator.continuationLogProbability(prompt: prompt, continuation: continuation, mode: .explicit)
        XCTAssertEqual(chunks.count, 2)

        // Reference computation: the same reads written out by hand.
        func memory(_ id: Int64, bias: Float, first: Bool) throws -> MemorySegment {
            try source.memory(for: id).segment(logitBias: bias, dropPrefix: !first)
        }
        let cache = model.makeCache(capacity: 90, positionOffset: 32)
        _ = try model.forward(Array(prompt[0 ..< 64]), cache: cache,
                              memory: [try memory(1, bias: 0, first: true), try memory(2, bias: -4, first: false)], logits: .none)
        let chunk1 = [try memory(3, bias: 0, first: true), try memory(4, bias: -4, first: false)]
        let last = try model.forward(Array(prompt[64...]), cache: cache, memory: chunk1)
        let rest = try model.forward(Array(continuation.dropLast()), cache: cache, memory: chunk1, logits: .all)
        let vocab = model.config.vocabularySize
        let rows = last + rest
        var expected = 0.0
        for (i, t) in continuation.enumerated() {
            expected += MemoryGeneratorTestSupport.logSoftmax(Array(rows[i * vocab ..< (i + 1) * vocab]), t)
        }
        XCTAssertEqual(logProbability, expected, accuracy: 1e-4)

        // Giving chunk 1 the first chunk's memories gives another answer, so the check can fail.
        let wrong = model.makeCache(capacity: 90, positionOffset: 32)
        let chunk0 = [try memory(1, bias: 0, first: true), try memory(2, bias: -4, first: false)]
        _ = try model.forward(Array(prompt[0 ..< 64]), cache: wrong, memory: chunk0, logits: .none)
        let wrongLast = try model.forward(Array(prompt[64...]), cache: wrong, memory: chunk0)
        let wrongLogProbability = MemoryGeneratorTestSupport.logSoftmax(wrongLast, continuation[0])
        let rightFirst = MemoryGeneratorTestSupport.logSoftmax(last, continuation[0])
        XCTAssertGreaterThan(abs(wrongLogProbability - rightFirst), 1e-3)
    }

    func testNoHitsMeansNoMemoryAndTheSameLogitsAsOffAtTheSamePositions() throws {
        let (model, generator, _) = try makeSetup { _, _ in [] }
        let prompt = [3, 4, 5, 6, 7]
        let (lp, chunks) = try generator.continuationLogProbability(prompt: prompt, continuation: [8], mode: .explicit)
        XCTAssertEqual(chunks.count, 1)
        XCTAssertTrue(chunks[0].references.isEmpty)
        let cache = model.makeCache(capacity: 8, positionOffset: 32)
        let logits = try model.forward(prompt, cache: cache)
        XCTAssertEqual(lp, MemoryGeneratorTestSupport.logSoftmax(logits, 8), accuracy: 1e-5)
    }

    func testTextModePutsTheRetrievedTextBeforeThePrompt() throws {
        let (_, generator, _) = try makeSetup { _, _ in [RetrievedReference(referenceId: 2, documentId: 1, score: 1)] }
        let result = try generator.generate(prompt: [3, 4, 5], mode: .text, options: GenerationOptions(maxTokens: 2, sampling: .greedy))
        XCTAssertEqual(result.chunks.count, 1)
        XCTAssertEqual(result.chunks[0].references.map(\.referenceId), [2])
        XCTAssertGreaterThan(result.generation.promptTokenCount, 3, "the reference text was prepended")
    }
}

enum MemoryGeneratorTestSupport {
    static func logSoftmax(_ row: [Float], _ index: Int) -> Double {
        let m = Double(row.max()!)
        let sum = row.reduce(0.0) { $0 + exp(Double($1) - m) }
        return Double(row[index]) - m - log(sum)
    }
}
