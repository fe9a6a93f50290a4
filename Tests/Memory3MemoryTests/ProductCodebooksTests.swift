import Memory3Memory
import XCTest

final class ProductCodebooksTests: XCTestCase {
    /// One row, 4 tokens of 8 dimensions: two groups of 4 channels a vector.
    func memory(keys: [Float], values: [Float]) -> EncodedMemory {
        EncodedMemory(layers: [0], kvHeadCount: 1, headDim: 8, tokenCount: 4, prefixTokenCount: 1,
                      positions: [0, 1, 2, 3], keys: keys, values: values)
    }

    /// Centroids [keys, values][group][entry][channel] of the one row, from per-side entry lists.
    func books(keys: [[Float]], values: [[Float]], bits: Int, keyForm: ProductCodebooks.KeyForm = .plain) throws -> ProductCodebooks {
        // Each list holds one entry's 8 floats: group 0's four channels, then group 1's.
        var centroids: [Float] = []
        for side in [keys, values] {
            for g in 0 ..< 2 { for entry in side { centroids += entry[(4 * g) ..< (4 * g + 4)] } }
        }
        return try ProductCodebooks(rows: 1, headDim: 8, channels: 4, bits: bits, keyForm: keyForm, centroids: centroids)
    }

    let tokens: [[Float]] = [[1, 2, 3, 4, 5, 6, 7, 8], [-1, 0, 2, 9, 3, 3, 3, 3], [0, 0, 0, 0, 1, 1, 1, 1], [7, -7, 7, -7, 2, 4, 6, 8]]

    func testCodebooksHoldingEveryGroupRebuildTheMemoryExactly() throws {
        let original = memory(keys: tokens.flatMap { $0 }, values: tokens.reversed().flatMap { $0 })
        let codebooks = try books(keys: tokens, values: tokens, bits: 2)
        let rebuilt = try codebooks.reconstruct(original)
        XCTAssertEqual(rebuilt, original)
        XCTAssertEqual(codebooks.codeBytes(vectors: 4), 2 * ((4 * 2 * 2 + 7) / 8), "2 bits a group, 2 groups, 4 vectors, keys and values")
    }

    func testEachGroupTakesItsNearestCentroidAndSidesChooseWhatIsCoded() throws {
        let original = memory(keys: tokens.flatMap { $0 }, values: tokens.flatMap { $0 })
        // Two entries a side: all zeros and all tens; every group goes to whichever is nearer.
        let entries: [[Float]] = [[Float](repeating: 0, count: 8), [Float](repeating: 10, count: 8)]
        let codebooks = try books(keys: entries, values: entries, bits: 1)
        let expected: [Float] = tokens.flatMap { token in
            (0 ..< 2).flatMap { g -> [Float] in
                let group = token[(4 * g) ..< (4 * g + 4)]
                let toZero = group.reduce(0) { $0 + $1 * $1 }, toTen = group.reduce(0) { $0 + ($1 - 10) * ($1 - 10) }
                return [Float](repeating: toZero <= toTen ? 0 : 10, count: 4)
            }
        }
        XCTAssertEqual(expected.prefix(8), [0, 0, 0, 0, 10, 10, 10, 10], "the first token's groups go apart")
        let both = try codebooks.reconstruct(original)
        XCTAssertEqual(both.keys, expected)
        XCTAssertEqual(both.values, expected)
        let keysOnly = try codebooks.reconstruct(original, sides: .keys)
        XCTAssertEqual(keysOnly.keys, expected)
        XCTAssertEqual(keysOnly.values, original.values)
        let valuesOnly = try codebooks.reconstruct(original, sides: .values)
        XCTAssertEqual(valuesOnly.keys, original.keys)
        XCTAssertEqual(valuesOnly.values, expected)
        XCTAssertEqual(keysOnly.positions, original.positions)
    }

    func testCenteredKeysAreCodedLessTheirMeanAndGetItBack() throws {
        // Every channel's mean over the 4 tokens is 100 + d; less it, each token is -1 or +1.
        let signs: [Float] = [1, -1, -1, 1]
        let alternating: [Float] = [1, -1, 1, -1, 1, -1, 1, -1]
        var keys: [Float] = []
        for t in 0 ..< 4 {
            for d in 0 ..< 8 { keys.append(Float(100 + d) + signs[t] * alternating[d]) }
        }
        let residuals: [[Float]] = [alternating, alternating.map { -$0 }]
        let centered = try books(keys: residuals, values: residuals, bits: 1, keyForm: .centered)
        let rebuilt = try centered.reconstruct(memory(keys: keys, values: keys), sides: .keys)
        XCTAssertEqual(rebuilt.keys, keys, "mean (exact in fp16) plus the exact residual centroid")
        // The same codebooks without the key form cannot reach keys near 100.
        let plain = try books(keys: residuals, values: residuals, bits: 1)
        XCTAssertGreaterThan(maxAbsoluteDifference(try plain.reconstruct(memory(keys: keys, values: keys), sides: .keys).keys, keys), 90)
        XCTAssertEqual(centered.codeBytes(vectors: 4) - plain.codeBytes(vectors: 4), 2 * 8, "one fp16 mean a channel")
    }

    func testShapesThatDoNotMatchAreRefused() throws {
        XCTAssertThrowsError(try ProductCodebooks(rows: 1, headDim: 8, channels: 4, bits: 2, centroids: [Float](repeating: 0, count: 63)))
        XCTAssertThrowsError(try ProductCodebooks(rows: 1, headDim: 8, channels: 3, bits: 2, centroids: []))
        let codebooks = try books(keys: tokens, values: tokens, bits: 2)
        let wide = EncodedMemory(layers: [0, 1], kvHeadCount: 1, headDim: 8, tokenCount: 1, prefixTokenCount: 0,
                                 positions: [0, 0], keys: [Float](repeating: 0, count: 16), values: [Float](repeating: 0, count: 16))
        XCTAssertThrowsError(try codebooks.reconstruct(wide), "two rows against codebooks for one")
    }
}
