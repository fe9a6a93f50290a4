import Foundation
import XCTest
@testable import MemoryStore

/// Reference embeddings in the store (schema v6): written with references, read incrementally,
/// counted, gone with their document, and found missing by a backfill.
class EmbeddingStoreTests: StoreBackendTestCase {
    func embedding(_ seed: Int, encoder: String = "enc") -> StoredEmbedding {
        StoredEmbedding(encoder: encoder, vector: (0 ..< 8).map { Float(sin(Double(seed * 8 + $0))) })
    }

    func document(_ name: String, references: Int, embedded: Bool) -> NewDocument {
        NewDocument(title: name, source: name, sha256: "sha-\(name)", bytes: 1,
                    references: (0 ..< references).map {
                        NewReference(ordinal: $0, text: "\(name) reference \($0)", tokenCount: 3,
                                     memories: [NewMemory(profile: "dense", codec: "raw", blob: [1])],
                                     embedding: embedded ? embedding($0) : nil)
                    })
    }

    func testEmbeddingsAreWrittenReadIncrementallyCountedAndCascade() throws {
        let directory = try TemporaryDirectory()
        let store = try openStore(directory, "store.sqlite")
        let first = try store.insertDocument(document("a", references: 3, embedded: true))
        XCTAssertEqual(try store.embeddingCount(), 3)
        let rows = try store.embeddingRows(after: 0, limit: 10)
        XCTAssertEqual(rows.map(\.embedding), (0 ..< 3).map { embedding($0) })
        XCTAssertEqual(try store.embeddingRows(after: rows[1].rowId, limit: 10).map(\.rowId), [rows[2].rowId])

        // Replacing a reference's vector gives it a newer row; the count stays.
        try store.putEmbeddings([(referenceId: rows[0].referenceId, embedding: embedding(9))])
        XCTAssertEqual(try store.embeddingCount(), 3)
        let newer = try store.embeddingRows(after: rows[2].rowId, limit: 10)
        XCTAssertEqual(newer.map(\.referenceId), [rows[0].referenceId])
        XCTAssertEqual(newer.first?.embedding, embedding(9))

        _ = try store.insertDocument(document("b", references: 2, embedded: false))
        let missing = try store.referencesWithoutEmbedding(encoder: "enc", limit: 10)
        XCTAssertEqual(missing.map(\.text), ["b reference 0", "b reference 1"])
        XCTAssertEqual(try store.referencesWithoutEmbedding(encoder: "other", limit: 10).count, 5)

        XCTAssertTrue(try store.deleteDocument(id: first))
        XCTAssertEqual(try store.embeddingCount(), 0)
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testRetrievableReferencesHideStagedDocumentsAndOtherProfiles() throws {
        let directory = try TemporaryDirectory()
        let store = try openStore(directory, "store.sqlite")
        let id = try store.insertDocument(document("a", references: 2, embedded: true))
        let references = try XCTUnwrap(try store.document(id: id)).references.map(\.id)
        XCTAssertEqual(try store.retrievableReferences(references + [999], profile: "dense"), [references[0]: id, references[1]: id])
        XCTAssertEqual(try store.retrievableReferences(references, profile: "paper"), [:])
        XCTAssertEqual(try store.retrievableReferences(references, profile: nil).count, 2)
    }

    func testQuantizationKeepsTheCosine() {
        let a = (0 ..< 384).map { Float(sin(Double($0) * 0.37)) }
        let b = (0 ..< 384).map { Float(cos(Double($0) * 0.11)) }
        func unit(_ v: [Float]) -> [Float] { let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot(); return v.map { $0 / n } }
        let (ua, ub) = (unit(a), unit(b))
        let exact = zip(ua, ub).reduce(0) { $0 + $1.0 * $1.1 }
        let (qa, qb) = (StoredEmbedding(encoder: "e", vector: ua), StoredEmbedding(encoder: "e", vector: ub))
        let dot = zip(qa.components, qb.components).reduce(Int32(0)) { $0 + Int32($1.0) * Int32($1.1) }
        XCTAssertEqual(Float(dot) * qa.scale * qb.scale, exact, accuracy: 0.01)
        XCTAssertEqual(qa.components.map { abs(Int($0)) }.max(), 127)
    }
}

