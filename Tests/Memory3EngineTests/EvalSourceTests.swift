import Memory3Memory
@testable import Memory3Engine
import XCTest

/// The eval's retrieval stand-ins: the gold reference alone (reading with perfect retrieval) and
/// the gold swapped with the best distractor (reading that does not trust BM25's order).
final class EvalSourceTests: XCTestCase {
    struct ScriptedSource: MemorySource {
        let hits: [RetrievedReference]
        func retrieve(_ query: String, limit: Int, retriever: RetrieverKind?) throws -> [RetrievedReference] { Array(hits.prefix(limit)) }
        func memory(for referenceId: Int64) throws -> EncodedMemory { throw MemoryEngineError.missingReference(referenceId) }
        func text(for referenceId: Int64) throws -> String { "text of \(referenceId)" }
    }

    let base = ScriptedSource(hits: [RetrievedReference(referenceId: 7, documentId: 70, score: 9),
                                     RetrievedReference(referenceId: 3, documentId: 30, score: 6),
                                     RetrievedReference(referenceId: 5, documentId: 50, score: 2)])

    func testGoldOnlyReturnsTheGoldReferenceAloneEvenWhenTheRetrieverMissesIt() throws {
        let source = GoldOnlySource(base: base, gold: 11)
        XCTAssertEqual(try source.retrieve("anything", limit: 5).map(\.referenceId), [11])
        XCTAssertEqual(try source.retrieve("anything", limit: 0), [])
        XCTAssertEqual(try source.text(for: 11), "text of 11")
    }

    func testSwappedGivesTheGoldTheBestDistractorsRankAndScore() throws {
        let hits = try SwappedSource(base: base, gold: 3).retrieve("q", limit: 5)
        XCTAssertEqual(hits.map(\.referenceId), [3, 7, 5])
        XCTAssertEqual(hits.map(\.score), [9, 6, 2])
    }
}
