import Memory3TestSupport
import GGUF
@testable import Memory3Model
import XCTest

/// One batched forward over several sequences gives each exactly what it gets alone.
final class BatchedForwardTests: XCTestCase {
    /// A memory segment made by the tiny model reading `tokens` (keys after RoPE at 0..<n).
    func segment(_ model: LlamaModel, _ tokens: [Int], bias: Float = 0) throws -> MemorySegment {
        let cache = model.makeCache(capacity: tokens.count)
        _ = try model.forward(tokens, cache: cache, logits: .none)
        var s = cache.segment(tokens: 0 ..< tokens.count)
        s.logitBias = bias
        return s
    }

    struct Sequence {
        var prompt: [Int]
        var memory: [MemorySegment]
        var generated: [Int]
    }

    func sequences(_ model: LlamaModel) throws -> [Sequence] {
        [
            Sequence(prompt: [3, 17, 42, 5, 5, 29, 0, 11], memory: [], generated: [7, 8, 9, 10, 11]),
            Sequence(prompt: [1, 2, 3], memory: [try segment(model, [1, 30, 31, 32]), try segment(model, [33, 34], bias: -4)],
                     generated: [12, 13, 14, 15, 16]),
            Sequence(prompt: Array(20 ..< 45), memory: [try segment(model, [40, 41, 42, 43, 44, 45], bias: -1)],
                     generated: [17, 18, 19, 20, 21]),
        ]
    }

    /// Each sequence alone: its prompt in one call, then one generated token per call.
    func alone(_ model: LlamaModel, _ s: Sequence, offset: Int) throws -> (logits: [[Float]], cache: KVCache) {
        let cache = model.makeCache(capacity: 64, positionOffset: offset)
        var rows = [try model.forward(s.prompt, cache: cache, memory: s.memory)]
        for t in s.generated { rows.append(try model.forward([t], cache: cache, memory: s.memory)) }
        return (rows, cache)
    }

    func testABatchGivesEverySequenceTheLogitsItGetsAloneBitForBit() throws {
        for type in [GGMLType.q4_1, .q8_0, .q4_0, .q5_0, .f32] {
            var factory = TinyLlamaFactory()
            factory.weightType = type
            let model = try factory.makeModel(threads: 2)
            let all = try sequences(model)
            let offsets = [0, 16, 40]
            let expected = try zip(all, offsets).map { try alone(model, $0, offset: $1) }

            // Batched: prompts read in pieces of at most 4 tokens while the others already
            // generate, so every step mixes prompt pieces and decode tokens of different sequences.
            let caches = offsets.map { model.makeCache(capacity: 64, positionOffset: $0) }
            var read = [0, 0, 0], fed = [0, 0, 0]
            var got: [[[Float]]] = [[], [], []]
            while fed.enumerated().contains(where: { $1 < all[$0].generated.count }) {
                var batch: [ForwardRequest] = []
                var owners: [Int] = []
                for (i, s) in all.enumerated() {
                    if read[i] < s.prompt.count {
                        let end = min(read[i] + 4, s.prompt.count)
                        batch.append(ForwardRequest(cache: caches[i], tokens: Array(s.prompt[read[i] ..< end]), memory: s.memory,
                                                    logits: end == s.prompt.count ? .last : .none))
                        read[i] = end
                    } else if fed[i] < s.generated.count {
                        batch.append(ForwardRequest(cache: caches[i], tokens: [s.generated[fed[i]]], memory: s.memory))
                        fed[i] += 1
                    } else {
                        continue
                    }
                    owners.append(i)
                }
                let out = try model.forward(batch: batch)
                for (i, rows) in zip(owners, out) where !rows.isEmpty { got[i].append(rows) }
            }
            for i in all.indices {
                XCTAssertEqual(got[i], expected[i].logits, "sequence \(i), \(type.name)")
                XCTAssertEqual(caches[i].count, expected[i].cache.count)
                XCTAssertEqual(caches[i].segment(tokens: 0 ..< caches[i].count), expected[i].cache.segment(tokens: 0 ..< caches[i].count))
            }
            // Negative control: the comparison sees a difference in memory.
            let swapped = Sequence(prompt: all[1].prompt, memory: all[2].memory, generated: all[1].generated)
            XCTAssertNotEqual(try alone(model, swapped, offset: 16).logits, expected[1].logits)
        }
    }

    func testProbesRecordTheSameMassInABatchAsAlone() throws {
        let model = try TinyLlamaFactory().makeModel(threads: 2)
        let memory = [try segment(model, [1, 30, 31, 32]), try segment(model, [33, 34, 35])]
        let prompt = [5, 6, 7, 8, 9, 10]
        let aloneProbe = AttentionProbe(layers: [1])
        try model.probeAttention(prompt, cache: model.makeCache(capacity: 16, positionOffset: 8), memory: memory,
                                 probe: aloneProbe, throughLayer: 1)

        let probe = AttentionProbe(layers: [1])
        probe.begin(tokens: prompt.count, segments: memory.count, config: model.config)
        let other = model.makeCache(capacity: 16)
        let probed = model.makeCache(capacity: 16, positionOffset: 8)
        _ = try model.forward(batch: [
            ForwardRequest(cache: other, tokens: [11, 12, 13], logits: .none),
            ForwardRequest(cache: probed, tokens: prompt, memory: memory, logits: .none, probe: probe),
        ], throughLayer: 1)
        XCTAssertEqual(probed.count, 0, "a probe pass leaves the cache where it was")
        for head in 0 ..< model.config.headCount {
            XCTAssertEqual(probe.mass(layer: 1, head: head), aloneProbe.mass(layer: 1, head: head))
        }
    }

    func testLogitsComeBackPerRequestAsAsked() throws {
        let model = try TinyLlamaFactory().makeModel()
        let out = try model.forward(batch: [
            ForwardRequest(cache: model.makeCache(capacity: 8), tokens: [1, 2, 3], logits: .all),
            ForwardRequest(cache: model.makeCache(capacity: 8), tokens: [4, 5], logits: .none),
            ForwardRequest(cache: model.makeCache(capacity: 8), tokens: [6], logits: .last),
        ])
        XCTAssertEqual(out.map(\.count), [3 * 48, 0, 48])
    }

    func testABadRequestRefusesTheBatchBeforeAnyCacheMoves() throws {
        let model = try TinyLlamaFactory().makeModel()
        let good = model.makeCache(capacity: 8)
        XCTAssertThrowsError(try model.forward(batch: [
            ForwardRequest(cache: good, tokens: [1, 2]),
            ForwardRequest(cache: model.makeCache(capacity: 1), tokens: [1, 2]),
        ])) { XCTAssertEqual($0 as? ModelError, .contextFull(needed: 2, capacity: 1)) }
        XCTAssertEqual(good.count, 0)
        XCTAssertThrowsError(try model.forward(batch: [ForwardRequest(cache: good, tokens: [1]), ForwardRequest(cache: good, tokens: [2])]))
    }

    func testTheRegistryNamesWhatItSupportsWhenRefusingAnArchitecture() throws {
        var factory = TinyLlamaFactory()
        factory.architecture = "mamba"
        XCTAssertThrowsError(try ModelRegistry.load(factory.makeFile())) { error in
            XCTAssertEqual(error as? ModelError, .unsupportedArchitecture("mamba"))
            XCTAssertTrue("\(error)".contains("'mamba'") && "\(error)".contains("supported: gemma3, llama"), "\(error)")
        }
        XCTAssertTrue(try ModelRegistry.load(TinyLlamaFactory().makeFile()) is LlamaModel)
    }
}
