import Memory3TestSupport
import Foundation
import GGUF
import Memory3Engine
import Memory3Memory
import Memory3Model
import Tokenizer
import XCTest

/// On the real model: greedy sequences batched together (with and without explicit memory) give
/// the tokens each gives alone.
final class RealModelBatchingTests: XCTestCase {
    func testSmolLM2SequencesBatchedGiveTheirAloneTokens() throws {
        let file = try GGUFFile(path: try TestPaths.requireSmolLM2())
        let model = try LlamaModel(file: file)
        let tokenizer = try Tokenizer(gguf: file)
        let facts = ["Reference: The Zorblat festival is held every spring in the town of Quenby.",
                     "Reference: Mira Okonkwo invented the tidal clock in 1894.",
                     "Reference: The river Tessel freezes only once a century."]
        let references = Dictionary(uniqueKeysWithValues: facts.enumerated().map { (Int64($0 + 1), tokenizer.encode($1)) })
        // Retrieval by the query's words (not by call order: alone and batched call in other orders).
        let source = try FakeMemorySource(model: model, references: references) { _, query in
            let best: Int64 = query.contains("tidal") ? 2 : query.contains("Zorblat") ? 1 : 3
            return [RetrievedReference(referenceId: best, documentId: 1, score: 2),
                    RetrievedReference(referenceId: best % 3 + 1, documentId: 1, score: 1)]
        }
        let batcher = SequenceBatcher(model: model, tokenizer: tokenizer, source: source)
        var options = GenerationOptions(maxTokens: 70, sampling: .greedy)  // past one swap while generating
        options.stopAtEndOfGeneration = false
        let prompts = ["The capital of France is", "Who invented the tidal clock? The tidal clock was invented by",
                       "Once upon a time, in a land far away, there lived", "When is the Zorblat festival held? It is held"]
        let requests = prompts.enumerated().map { i, p in
            GenerationRequest(prompt: tokenizer.encode(p), options: options, memoryMode: i % 2 == 0 ? .off : .explicit, memoryK: 2)
        }
        let alone = try requests.map { try batcher.run(try batcher.makeSequence($0)).tokens }
        let together = try requests.map { try batcher.makeSequence($0) }
        while together.contains(where: { !$0.isFinished }) {
            batcher.step(together.filter { !$0.isFinished }, promptBudget: 8)
        }
        for (i, s) in together.enumerated() {
            XCTAssertNil(s.failure)
            XCTAssertEqual(s.result.tokens, alone[i], "prompt \(i): \(prompts[i])")
        }
        XCTAssertEqual(together[0].result.text.hasPrefix(" Paris"), true)
    }
}
