import Foundation
@testable import Memory3Engine
import XCTest

/// The rerank score: the retrieval head's mass share plus `retrieverWeight` times the retrieval
/// score over the best.
final class RerankScoreTests: XCTestCase {
    func order(_ policy: MemoryReadingPolicy, mass: [Float], scores: [Double]) -> [Int] {
        let s = policy.rerankScores(mass: mass, retrievalScores: scores)
        return s.indices.sorted { s[$0] > s[$1] }
    }

    func testAConfidentHeadOverrulesTheRetrieversOrder() {
        // BM25 puts memory 0 first by a little; the head puts clearly more mass on memory 1.
        XCTAssertEqual(order(MemoryReadingPolicy(), mass: [0.10, 0.60, 0.10, 0.10, 0.10], scores: [10, 9, 5, 4, 3]).first, 1)
    }

    func testWhenTheHeadHesitatesTheRetrieverDecides() {
        // Nearly equal masses: the retrieval score breaks the tie; with weight 0 the head alone does.
        let mass: [Float] = [0.19, 0.21, 0.20, 0.20, 0.20]
        XCTAssertEqual(order(MemoryReadingPolicy(), mass: mass, scores: [10, 6, 5, 4, 3]).first, 0)
        var headAlone = MemoryReadingPolicy()
        headAlone.retrieverWeight = 0
        XCTAssertEqual(order(headAlone, mass: mass, scores: [10, 6, 5, 4, 3]).first, 1)
    }

    func testScoresAreLogSharesPlusWeightedRatios() {
        var policy = MemoryReadingPolicy()
        policy.retrieverWeight = 0.5
        let s = policy.rerankScores(mass: [2, 6], retrievalScores: [4, 8])
        XCTAssertEqual(s[0], log(0.25) + 0.25, accuracy: 1e-5)
        XCTAssertEqual(s[1], log(0.75) + 0.5, accuracy: 1e-5)
        // No mass and no scores: finite and equal, no division by zero.
        let empty = policy.rerankScores(mass: [0, 0], retrievalScores: [0, 0])
        XCTAssertTrue(empty.allSatisfy(\.isFinite))
        XCTAssertEqual(empty[0], empty[1])
    }
}
