import Memory3TestSupport
import Memory3Engine
import Memory3Memory
import Memory3Model
import XCTest

/// Sequences stepped together by `SequenceBatcher` produce exactly the tokens and memory reads
/// they produce alone, with and without explicit memory; the prompt cache changes nothing but
/// the work done.
final class BatchedGenerationTests: XCTestCase {
    /// The tiny model with four small references; retrieval picks references from the query's
    /// first letter, so different chunks read different memories.
    func setup(promptCacheBytes: Int? = nil) throws -> (SequenceBatcher, FakeMemorySource) {
        var factory = TinyLlamaFactory()
        factory.contextLength = 1024
        let model = try factory.makeModel(threads: 2)
        let references: [Int64: [Int]] = [1: [1, 5, 6, 7, 8], 2: [1, 9, 10, 11], 3: [1, 12, 13, 14, 15, 16], 4: [1, 20, 21]]
        let source = try FakeMemorySource(model: model, references: references) { _, query in
            let first = Int(query.unicodeScalars.first?.value ?? 0)
            return [RetrievedReference(referenceId: Int64(first % 4 + 1), documentId: 1, score: 3),
                    RetrievedReference(referenceId: Int64((first + 1) % 4 + 1), documentId: 1, score: 2),
                    RetrievedReference(referenceId: Int64((first + 2) % 4 + 1), documentId: 2, score: 1)]
        }
        var policy = MemoryReadingPolicy()
        policy.contextOffset = 32
        policy.retrievalHead = RetrievalHead(layer: 1, head: 2)
        let batcher = SequenceBatcher(model: model, tokenizer: try tinyTokenizer(), source: source, policy: policy,
                                      promptCache: promptCacheBytes.map { PromptCache(budgetBytes: $0) })
        return (batcher, source)
    }

    func requests() -> [GenerationRequest] {
        func request(_ prompt: [Int], _ mode: MemoryMode, maxTokens: Int, seed: UInt64? = nil) -> GenerationRequest {
            var sampling = SamplingParameters.greedy
            if let seed {
                sampling = SamplingParameters()
                sampling.seed = seed
            }
            var options = GenerationOptions(maxTokens: maxTokens, sampling: sampling)
            options.stopAtEndOfGeneration = false
            return GenerationRequest(prompt: prompt, options: options, memoryMode: mode, memoryK: 3)
        }
        return [
            request((0 ..< 150).map { 3 + $0 % 26 }, .explicit, maxTokens: 140),
            request((0 ..< 20).map { 3 + ($0 * 5) % 26 }, .off, maxTokens: 90),
            request((0 ..< 70).map { 3 + ($0 * 7) % 26 }, .explicit, maxTokens: 75, seed: 99),
            request((0 ..< 9).map { 4 + $0 }, .off, maxTokens: 30, seed: 5),
            request((0 ..< 40).map { 3 + ($0 * 11) % 26 }, .text, maxTokens: 20),
        ]
    }

    func testSequencesBatchedTogetherGiveTheirAloneTokensAndReads() throws {
        let (batcher, _) = try setup()
        let alone = try requests().map { request -> (GenerationResult, [ChunkRecord]) in
            let s = try batcher.makeSequence(request)
            return (try batcher.run(s), s.records)
        }
        // Together, a small prompt budget so prompt pieces interleave with other sequences' tokens;
        // sequences join at different steps.
        var running: [GenerationSequence] = []
        var pending = try requests().map { try batcher.makeSequence($0) }
        let all = pending
        var steps = 0
        while !pending.isEmpty || running.contains(where: { !$0.isFinished }) {
            if !pending.isEmpty && steps % 3 == 0 { running.append(pending.removeFirst()) }
            let report = batcher.step(running.filter { !$0.isFinished }, promptBudget: 16)
            XCTAssertLessThanOrEqual(report.promptTokens, 16)
            steps += 1
        }
        for (i, s) in all.enumerated() {
            XCTAssertNil(s.failure)
            XCTAssertEqual(s.result.tokens, alone[i].0.tokens, "request \(i)")
            XCTAssertEqual(s.result.text, alone[i].0.text, "request \(i)")
            XCTAssertEqual(s.result.finishReason, alone[i].0.finishReason)
            XCTAssertEqual(s.records, alone[i].1, "request \(i): memory reads")
        }
        XCTAssertEqual(all[0].records.filter { $0.phase == .generation }.count, 2, "swaps while generating, as alone")
        XCTAssertFalse(all[0].records[0].references.isEmpty)
        XCTAssertNotNil(all[0].records[0].references[0].headMass, "reranked by the retrieval head")
    }

    func testARepeatedPromptReusesItsCachedPrefixAndGeneratesTheSame() throws {
        for mode in [MemoryMode.off, .explicit] {
            let (fresh, _) = try setup()
            let (cached, _) = try setup(promptCacheBytes: 64 << 20)
            var options = GenerationOptions(maxTokens: 12, sampling: .greedy)
            options.stopAtEndOfGeneration = false
            let prompt = (0 ..< 150).map { 3 + ($0 * 3) % 26 }
            let request = GenerationRequest(prompt: prompt, options: options, memoryMode: mode, memoryK: 3)

            let first = try cached.makeSequence(request)
            let firstResult = try cached.run(first)
            XCTAssertEqual(firstResult.cachedPromptTokens, 0)
            cached.release(first)
            let second = try cached.makeSequence(request)
            let secondResult = try cached.run(second)
            XCTAssertEqual(secondResult.cachedPromptTokens, prompt.count - 1, "\(mode): all but the last token reused")
            XCTAssertEqual(secondResult.tokens, firstResult.tokens)
            XCTAssertEqual(second.records, first.records, "\(mode): the same memory reads")

            // A longer prompt (the next turn) reuses the first turn's tokens: whole chunks with memory.
            cached.release(second)
            let next = GenerationRequest(prompt: prompt + firstResult.tokens + [5, 6, 7], options: options, memoryMode: mode, memoryK: 3)
            let third = try cached.makeSequence(next)
            let thirdResult = try cached.run(third)
            let expected = try fresh.run(try fresh.makeSequence(next))
            XCTAssertEqual(thirdResult.tokens, expected.tokens, "\(mode)")
            XCTAssertEqual(thirdResult.cachedPromptTokens, mode == .off ? prompt.count + 11 : 128)
        }
    }

    func testACachedChunkWhoseMemoriesChangedIsReadAgain() throws {
        var retrieveOther = false
        let lock = NSLock()
        var factory = TinyLlamaFactory()
        factory.contextLength = 1024
        let model = try factory.makeModel(threads: 2)
        let references: [Int64: [Int]] = [1: [1, 5, 6, 7, 8], 2: [1, 9, 10, 11], 3: [1, 12, 13, 14, 15, 16]]
        nonisolated(unsafe) let flag = { lock.withLock { retrieveOther } }
        let source = try FakeMemorySource(model: model, references: references) { _, query in
            // The second chunk's memories change once the knowledge base "changes".
            let second = query.hasPrefix("b") && flag()
            return [RetrievedReference(referenceId: second ? 3 : 1, documentId: 1, score: 3),
                    RetrievedReference(referenceId: 2, documentId: 1, score: 2)]
        }
        var policy = MemoryReadingPolicy()
        policy.contextOffset = 32
        let batcher = SequenceBatcher(model: model, tokenizer: try tinyTokenizer(), source: source, policy: policy,
                                      promptCache: PromptCache(budgetBytes: 64 << 20))
        // Chunk 0 starts with "a", chunk 1 with "b", chunk 2 with "c".
        let prompt = (0 ..< 150).map { i in i == 0 ? 3 : i == 64 ? 4 : i == 128 ? 5 : 29 }
        let request = GenerationRequest(prompt: prompt, options: GenerationOptions(maxTokens: 4, sampling: .greedy),
                                        memoryMode: .explicit, memoryK: 2)
        let first = try batcher.makeSequence(request)
        _ = try batcher.run(first)
        batcher.release(first)
        lock.withLock { retrieveOther = true }
        let second = try batcher.makeSequence(request)
        let result = try batcher.run(second)
        XCTAssertEqual(result.cachedPromptTokens, 64, "only the chunk whose memories still hold is reused")
        XCTAssertEqual(second.records[1].references.first?.referenceId, 3)
        let fresh = SequenceBatcher(model: model, tokenizer: try tinyTokenizer(), source: source, policy: policy)
        XCTAssertEqual(result.tokens, try fresh.run(try fresh.makeSequence(request)).tokens)
    }

    /// A cached entry of the same prompt whose reads go on past the prompt (a swap while
    /// generating) serves the prompt's whole chunks; it once made a range past the prompt's end
    /// (a crash on the second identical request whose prompt is not a whole number of chunks).
    func testTheSamePromptAgainAfterSwapsWhileGeneratingReusesItsChunks() throws {
        let (batcher, _) = try setup(promptCacheBytes: 64 << 20)
        var options = GenerationOptions(maxTokens: 80, sampling: .greedy)
        options.stopAtEndOfGeneration = false
        let request = GenerationRequest(prompt: (0 ..< 100).map { 3 + $0 % 26 }, options: options, memoryMode: .explicit, memoryK: 3)
        let first = try batcher.makeSequence(request)
        let firstResult = try batcher.run(first)
        XCTAssertTrue(first.records.contains { $0.phase == .generation }, "the first run swaps while generating")
        batcher.release(first)
        let second = try batcher.makeSequence(request)
        let secondResult = try batcher.run(second)
        XCTAssertEqual(secondResult.cachedPromptTokens, 99, "both prompt chunks reused (the last token is read again)")
        XCTAssertEqual(secondResult.tokens, firstResult.tokens)
    }
}
