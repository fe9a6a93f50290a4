import Memory3Model
@testable import Memory3Memory
import XCTest

final class MemoryProfileTests: XCTestCase {
    func testNamesAreStableAndParseBack() throws {
        let profiles: [MemoryProfile] = [
            .dense, .paper,
            .custom(layers: Array(0 ... 14), budget: .count(16), selection: .attention),
            .custom(layers: [0, 1, 2, 5, 7, 8], budget: .fraction(0.5), selection: .keyNorm),
            .custom(layers: nil, budget: .count(8), selection: .attention),
            .custom(layers: nil, budget: .fraction(0.35), selection: .evolved),
            .custom(layers: [3], budget: .count(4), selection: .h2o),
        ]
        XCTAssertEqual(profiles.map(\.name), [
            "dense", "paper",
            "custom:layers=0-14,tokens=16,selection=attention",
            "custom:layers=0-2,5,7-8,tokens=0.5,selection=keyNorm",
            "custom:layers=all,tokens=8,selection=attention",
            "custom:layers=all,tokens=0.35,selection=evolved",
            "custom:layers=3,tokens=4,selection=h2o",
        ])
        for p in profiles { XCTAssertEqual(try MemoryProfile(parsing: p.name), p) }
    }

    func testCustomOptionsParseInAnyOrderWithDefaults() throws {
        XCTAssertEqual(try MemoryProfile(parsing: "custom:tokens=75%,layers=3"),
                       .custom(layers: [3], budget: .fraction(0.75), selection: .attention))
        XCTAssertEqual(try MemoryProfile(parsing: "custom"), .custom(layers: nil, budget: .count(8), selection: .attention))
        XCTAssertEqual(try MemoryProfile(parsing: "custom:selection=keynorm"),
                       .custom(layers: nil, budget: .count(8), selection: .keyNorm))
    }

    func testBadProfilesAreRefusedWithTheReason() {
        for bad in ["sparse", "custom:tokens=0", "custom:layers=5-2", "custom:tokens=1.5", "custom:foo=1",
                    "custom:selection=random", "custom:tokens=4,tokens=5", "custom:7"] {
            XCTAssertThrowsError(try MemoryProfile(parsing: bad), bad)
        }
        XCTAssertThrowsError(try MemoryProfile.custom(layers: [9], budget: .count(1), selection: .attention).plan(layerCount: 4)) {
            XCTAssertEqual($0 as? MemoryProfileError, .layerOutOfRange(9, layerCount: 4))
        }
    }

    func testBudgetCountsAndFractions() {
        XCTAssertEqual(MemoryProfile.TokenBudget.count(8).tokens(of: 5), 5)
        XCTAssertEqual(MemoryProfile.TokenBudget.count(8).tokens(of: 100), 8)
        XCTAssertEqual(MemoryProfile.TokenBudget.fraction(0.5).tokens(of: 7), 4)
        XCTAssertEqual(MemoryProfile.TokenBudget.fraction(0.01).tokens(of: 7), 1)
    }

    func testAttentionRankingFavoursTheKeyEveryQueryMatches() {
        // 1 query head, 1 KV head, 2 dims, prefix 1, 4 body tokens: token 3's key matches all queries.
        let queries: [Float] = [0, 0, 1, 0, 1, 0, 1, 0, 1, 0]
        let keys: [Float] = [9, 9, 0, 1, 0, -1, 0, 0, 5, 0]
        let received = TokenRanking.attentionReceived(queries: queries, keys: keys, tokens: 5, prefix: 1,
                                                      headCount: 1, kvHeadCount: 1, headDim: 2)
        XCTAssertEqual(received.count, 1)
        XCTAssertEqual(received[0].count, 4)
        XCTAssertEqual(received[0].reduce(0, +), 4, accuracy: 1e-5, "each of 4 body queries gives 1 in total")
        XCTAssertEqual(TokenRanking.top(1, of: received[0]), [3])
        XCTAssertEqual(TokenRanking.top(2, of: [1, 3, 3, 0]), [1, 2])
    }
}

/// Shapes of what each profile keeps, on a tiny model.
final class MemoryEncoderShapeTests: XCTestCase {
    let text = "The lighthouse keeper climbed the stairs every evening."

    func testDenseKeepsAllLayersHeadsAndTokensAndEqualsTheCache() throws {
        let (model, tokenizer, _) = try TinyLlamaFactory().make()
        let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer)
        let memory = try encoder.encode(text)
        let tokens = encoder.prefixTokens + encoder.bodyTokens(text)
        XCTAssertEqual(encoder.prefixTokens.count, "Reference:".utf8.count)
        XCTAssertEqual(encoder.bodyTokens(text).count, text.utf8.count + 1, "a space joins prefix and text")
        XCTAssertEqual(memory.layers, [0, 1, 2, 3])
        XCTAssertEqual(memory.kvHeadCount, 2)
        XCTAssertEqual(memory.tokenCount, tokens.count)
        XCTAssertEqual(memory.prefixTokenCount, encoder.prefixTokens.count)
        XCTAssertEqual(memory.positions, (0 ..< 8).flatMap { _ in (0 ..< tokens.count).map(Int32.init) })

        let cache = model.makeCache(capacity: tokens.count)
        _ = try model.forward(tokens, cache: cache)
        XCTAssertEqual(memory.segment(precision: .float32), cache.segment(tokens: 0 ..< tokens.count))
    }

    func testPaperKeepsFirstHalfOfLayersPrefixAndTop8PerHead() throws {
        let (model, tokenizer, _) = try TinyLlamaFactory().make()
        let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: .paper)
        let memory = try encoder.encode(text)
        let dense = try MemoryEncoder(model: model, tokenizer: tokenizer).encode(text)
        let p = encoder.prefixTokens.count
        XCTAssertEqual(memory.layers, [0, 1])
        XCTAssertEqual(memory.tokenCount, p + 8)
        XCTAssertEqual(memory.prefixTokenCount, p)
        assertKeptTokensAreThePrefixThenAscendingAndMatchDense(memory, dense)
    }

    func testCustomProfilesKeepTheirLayersAndBudget() throws {
        let (model, tokenizer, _) = try TinyLlamaFactory().make()
        let dense = try MemoryEncoder(model: model, tokenizer: tokenizer).encode(text)
        let body = dense.tokenCount - dense.prefixTokenCount
        let cases: [(MemoryProfile, [Int], Int)] = [
            (.custom(layers: [1, 3], budget: .count(5), selection: .attention), [1, 3], 5),
            (.custom(layers: nil, budget: .fraction(0.5), selection: .keyNorm), [0, 1, 2, 3], (body + 1) / 2),
            (.custom(layers: [2], budget: .count(1000), selection: .attention), [2], body),
        ]
        for (profile, layers, kept) in cases {
            let memory = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: profile).encode(text)
            XCTAssertEqual(memory.layers, layers, profile.name)
            XCTAssertEqual(memory.tokenCount, dense.prefixTokenCount + kept, profile.name)
            assertKeptTokensAreThePrefixThenAscendingAndMatchDense(memory, dense)
        }
    }

    func testKeyNormSelectionKeepsTheSmallestKeys() throws {
        let (model, tokenizer, _) = try TinyLlamaFactory().make()
        let dense = try MemoryEncoder(model: model, tokenizer: tokenizer).encode(text)
        let memory = try MemoryEncoder(model: model, tokenizer: tokenizer,
                                       profile: .custom(layers: [0], budget: .count(4), selection: .keyNorm)).encode(text)
        let d = dense.headDim, n = dense.tokenCount, p = dense.prefixTokenCount
        for head in 0 ..< 2 {
            let norms = (p ..< n).map { t in (0 ..< d).reduce(Float(0)) { $0 + pow(dense.keys[(head * n + t) * d + $1], 2) } }
            let smallest = Set(norms.indices.sorted { norms[$0] < norms[$1] }.prefix(4).map { Int32($0 + p) })
            let kept = Set(memory.positions[(head * memory.tokenCount + p) ..< ((head + 1) * memory.tokenCount)])
            XCTAssertEqual(kept, smallest)
        }
    }

    /// A feature-ranked memory keeping every token is the dense memory, bit for bit, and reads
    /// as the same segment.
    func testFeatureRulesKeepingEveryTokenEqualTheDenseMemory() throws {
        let (model, tokenizer, _) = try TinyLlamaFactory().make()
        let dense = try MemoryEncoder(model: model, tokenizer: tokenizer).encode(text)
        for selection in [MemoryProfile.TokenSelection.h2o, .evolved] {
            let all = try MemoryEncoder(model: model, tokenizer: tokenizer,
                                        profile: .custom(layers: nil, budget: .fraction(1), selection: selection)).encode(text)
            XCTAssertEqual(all, dense, "\(selection)")
            XCTAssertEqual(all.segment(precision: .float32), dense.segment(precision: .float32), "\(selection)")
        }
    }

    /// Feature-ranked memories keep the prefix, then sorted unique in-range tokens, each the dense
    /// key/value at its position; h2o's are the tokens of most mean attention received.
    func testFeatureRulesKeepSortedUniqueTokensAndH2OKeepsTheMostAttended() throws {
        let (model, tokenizer, _) = try TinyLlamaFactory().make()
        let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer)
        let dense = try encoder.encode(text)
        for selection in [MemoryProfile.TokenSelection.h2o, .evolved] {
            let memory = try MemoryEncoder(model: model, tokenizer: tokenizer,
                                           profile: .custom(layers: [1, 3], budget: .count(6), selection: selection)).encode(text)
            XCTAssertEqual(memory.layers, [1, 3])
            XCTAssertEqual(memory.tokenCount, dense.prefixTokenCount + 6)
            assertKeptTokensAreThePrefixThenAscendingAndMatchDense(memory, dense)
        }
        let reading = try encoder.read(bodyTokens: encoder.bodyTokens(text), features: true)
        let features = try XCTUnwrap(reading.features)
        let h2o = try MemoryEncoder(model: model, tokenizer: tokenizer,
                                    profile: .custom(layers: nil, budget: .count(6), selection: .h2o)).encode(text)
        let p = dense.prefixTokenCount, body = dense.tokenCount - p, f = TokenFeatures.count
        for row in 0 ..< dense.rowCount {
            let attention = (0 ..< body).map { features.values[(row * body + $0) * f + TokenFeatures.Feature.meanAttention.rawValue] }
            let kept = h2o.positions[(row * h2o.tokenCount + p) ..< ((row + 1) * h2o.tokenCount)].map { Int($0) - p }
            let threshold = kept.map { attention[$0] }.min()!
            let dropped = Set(0 ..< body).subtracting(kept)
            XCTAssertTrue(dropped.allSatisfy { attention[$0] <= threshold }, "row \(row)")
        }
    }

    func testEmptyReferenceIsRefused() throws {
        let (model, tokenizer, _) = try TinyLlamaFactory().make()
        XCTAssertThrowsError(try MemoryEncoder(model: model, tokenizer: tokenizer).encode(bodyTokens: [])) {
            XCTAssertEqual($0 as? MemoryEncoderError, .emptyReference)
        }
    }

    /// Every head starts with the prefix (positions 0..<p), then kept tokens in ascending
    /// position order, and each kept key/value is the dense one at that position.
    func assertKeptTokensAreThePrefixThenAscendingAndMatchDense(_ m: EncodedMemory, _ dense: EncodedMemory,
                                                                 file: StaticString = #filePath, line: UInt = #line) {
        let d = m.headDim, p = m.prefixTokenCount
        for (slot, layer) in m.layers.enumerated() {
            let denseSlot = dense.layers.firstIndex(of: layer)!
            for head in 0 ..< m.kvHeadCount {
                let row = slot * m.kvHeadCount + head
                let positions = Array(m.positions[row * m.tokenCount ..< (row + 1) * m.tokenCount])
                XCTAssertEqual(Array(positions.prefix(p)), (0 ..< p).map(Int32.init), file: file, line: line)
                XCTAssertEqual(positions, positions.sorted(), file: file, line: line)
                XCTAssertEqual(Set(positions).count, positions.count, file: file, line: line)
                for (k, position) in positions.enumerated() {
                    let denseOffset = ((denseSlot * dense.kvHeadCount + head) * dense.tokenCount + Int(position)) * d
                    let offset = (row * m.tokenCount + k) * d
                    XCTAssertEqual(Array(m.keys[offset ..< offset + d]), Array(dense.keys[denseOffset ..< denseOffset + d]), file: file, line: line)
                    XCTAssertEqual(Array(m.values[offset ..< offset + d]), Array(dense.values[denseOffset ..< denseOffset + d]), file: file, line: line)
                }
            }
        }
    }
}
