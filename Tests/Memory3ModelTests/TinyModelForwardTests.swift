import Memory3TestSupport
import GGUF
@testable import Memory3Model
import XCTest

final class TinyModelForwardTests: XCTestCase {
    let tokens = [3, 17, 42, 5, 5, 29, 0, 11, 8, 47, 23, 14]

    func assertClose(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>, tolerance: Float = 1e-4,
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
        XCTAssertLessThanOrEqual(worst, tolerance, "max |a-b| = \(worst)", file: file, line: line)
    }

    func testConfigIsReadFromMetadata() throws {
        let model = try TinyLlamaFactory().makeModel()
        XCTAssertEqual(model.config.layerCount, 2)
        XCTAssertEqual(model.config.headDim, 16)
        XCTAssertEqual(model.config.groupSize, 2)
        XCTAssertEqual(model.config.vocabularySize, 48)
        XCTAssertEqual(model.config.kvDim, 32)
    }

    func testLogitsHaveOneRowPerRequestedPosition() throws {
        let model = try TinyLlamaFactory().makeModel()
        let all = try model.forward(tokens, cache: model.makeCache(capacity: 32), logits: .all)
        XCTAssertEqual(all.count, tokens.count * 48)
        let last = try model.forward(tokens, cache: model.makeCache(capacity: 32), logits: .last)
        XCTAssertEqual(last.count, 48)
        XCTAssert(last.allSatisfy(\.isFinite))
        assertClose(last[...], all[(tokens.count - 1) * 48 ..< tokens.count * 48])
    }

    func testPrefillAllAtOnceEqualsTokenByToken() throws {
        for type in [GGMLType.q4_1, .q8_0, .q4_0, .f32] {
            var factory = TinyLlamaFactory()
            factory.weightType = type
            let model = try factory.makeModel()
            let batched = try model.forward(tokens, cache: model.makeCache(capacity: 32), logits: .all)
            let cache = model.makeCache(capacity: 32)
            for (i, t) in tokens.enumerated() {
                let step = try model.forward([t], cache: cache)
                assertClose(step[...], batched[i * 48 ..< (i + 1) * 48])
            }
            XCTAssertEqual(cache.count, tokens.count)
        }
    }

    func testSingleThreadAndTwoThreadsAgree() throws {
        let one = try TinyLlamaFactory().makeModel(threads: 1)
        let two = try TinyLlamaFactory().makeModel(threads: 2)
        let a = try one.forward(tokens, cache: one.makeCache(capacity: 32), logits: .all)
        let b = try two.forward(tokens, cache: two.makeCache(capacity: 32), logits: .all)
        XCTAssertEqual(a, b)
    }

    func testMemorySegmentMadeFromPrefixKVGivesSameLogitsAsThePrefixInContext() throws {
        let model = try TinyLlamaFactory().makeModel()
        let prefix = Array(tokens[0 ..< 7]), suffix = Array(tokens[7...])

        let inContext = model.makeCache(capacity: 32)
        _ = try model.forward(prefix, cache: inContext)
        let expected = try model.forward(suffix, cache: inContext, logits: .all)

        let prefixOnly = model.makeCache(capacity: 32)
        _ = try model.forward(prefix, cache: prefixOnly)
        let segment = prefixOnly.segment(tokens: 0 ..< prefix.count)
        // The context starts where the prefix ended, so positions line up.
        let withMemory = model.makeCache(capacity: 32, positionOffset: prefix.count)
        let got = try model.forward(suffix, cache: withMemory, memory: [segment], logits: .all)
        assertClose(got[...], expected[...])
    }

    func testMemorySplitIntoTwoSegmentsEqualsOneSegment() throws {
        let model = try TinyLlamaFactory().makeModel()
        let prefixCache = model.makeCache(capacity: 32)
        _ = try model.forward(Array(tokens[0 ..< 8]), cache: prefixCache)
        let whole = prefixCache.segment(tokens: 0 ..< 8)
        let parts = [prefixCache.segment(tokens: 0 ..< 3), prefixCache.segment(tokens: 3 ..< 8)]
        let a = try model.forward([9, 10], cache: model.makeCache(capacity: 8, positionOffset: 8), memory: [whole], logits: .all)
        let b = try model.forward([9, 10], cache: model.makeCache(capacity: 8, positionOffset: 8), memory: parts, logits: .all)
        assertClose(a[...], b[...])
    }

    func testAVeryNegativeBiasHidesASegment() throws {
        let model = try TinyLlamaFactory().makeModel()
        let prefixCache = model.makeCache(capacity: 32)
        _ = try model.forward(Array(tokens[0 ..< 6]), cache: prefixCache)
        var segment = prefixCache.segment(tokens: 0 ..< 6)
        let without = try model.forward([4, 7], cache: model.makeCache(capacity: 8, positionOffset: 6), logits: .all)
        let plain = try model.forward([4, 7], cache: model.makeCache(capacity: 8, positionOffset: 6), memory: [segment], logits: .all)
        segment.logitBias = -1e4
        let hidden = try model.forward([4, 7], cache: model.makeCache(capacity: 8, positionOffset: 6), memory: [segment], logits: .all)
        assertClose(hidden[...], without[...])
        XCTAssertGreaterThan(zip(plain, without).map { abs($0 - $1) }.max()!, 1e-3, "memory should matter")
    }

    func testSegmentCoveringSomeLayersOnlyAffectsThoseLayers() throws {
        let model = try TinyLlamaFactory().makeModel()
        let prefixCache = model.makeCache(capacity: 32)
        _ = try model.forward(Array(tokens[0 ..< 6]), cache: prefixCache)
        let none = prefixCache.segment(tokens: 0 ..< 6, layers: [])
        let layerOne = prefixCache.segment(tokens: 0 ..< 6, layers: [1])
        let without = try model.forward([4, 7], cache: model.makeCache(capacity: 8, positionOffset: 6), logits: .all)
        let empty = try model.forward([4, 7], cache: model.makeCache(capacity: 8, positionOffset: 6), memory: [none], logits: .all)
        let partial = try model.forward([4, 7], cache: model.makeCache(capacity: 8, positionOffset: 6), memory: [layerOne], logits: .all)
        assertClose(empty[...], without[...])
        XCTAssertGreaterThan(zip(partial, without).map { abs($0 - $1) }.max()!, 1e-3)
    }

    func testTruncateRewindsTheCache() throws {
        let model = try TinyLlamaFactory().makeModel()
        let cache = model.makeCache(capacity: 32)
        _ = try model.forward(Array(tokens[0 ..< 5]), cache: cache)
        let first = try model.forward([9], cache: cache)
        cache.truncate(to: 5)
        let again = try model.forward([9], cache: cache)
        XCTAssertEqual(first, again)
    }

    func testBadInputsAreTypedErrors() throws {
        let model = try TinyLlamaFactory().makeModel()
        XCTAssertThrowsError(try model.forward([], cache: model.makeCache(capacity: 4))) {
            XCTAssertEqual($0 as? ModelError, .emptyInput)
        }
        XCTAssertThrowsError(try model.forward([1, 2, 3], cache: model.makeCache(capacity: 2))) {
            XCTAssertEqual($0 as? ModelError, .contextFull(needed: 3, capacity: 2))
        }
        XCTAssertThrowsError(try model.forward([48], cache: model.makeCache(capacity: 4))) {
            XCTAssertEqual($0 as? ModelError, .invalidToken(48, vocabularySize: 48))
        }
        let wrongShape = MemorySegment(layers: [0], kvHeadCount: 1, headDim: 16, tokenCount: 1,
                                       keys: .init(repeating: 0, count: 16), values: .init(repeating: 0, count: 16))
        XCTAssertThrowsError(try model.forward([1], cache: model.makeCache(capacity: 4), memory: [wrongShape])) {
            guard case .memoryShapeMismatch = $0 as? ModelError else { return XCTFail("\($0)") }
        }
    }

    func testMissingTensorAndUnknownArchitectureAreTypedErrors() throws {
        var factory = TinyLlamaFactory()
        factory.omit = ["blk.1.ffn_up.weight"]
        XCTAssertThrowsError(try factory.makeModel()) {
            XCTAssertEqual($0 as? ModelError, .file(.missingTensor("blk.1.ffn_up.weight")))
        }
        var other = TinyLlamaFactory()
        other.architecture = "mamba"
        XCTAssertThrowsError(try other.makeModel()) {
            XCTAssertEqual($0 as? ModelError, .unsupportedArchitecture("mamba"))
        }
    }
}
