import Foundation
import Memory3Engine
@testable import Memory3Server
import Memory3TestSupport
import MemoryStore
import XCTest

/// /v1/retrieve with each retriever over a store whose references carry sentence embeddings
/// (the real all-MiniLM-L6-v2 encoder).
final class HybridRetrievalServerTests: XCTestCase {
    static let texts = [
        "The ferry to Olm leaves the harbour at dawn every Tuesday and returns by dusk.",
        "Varnholt lighthouse was kept by Edda Morrow from 1911 until the lamp was automated.",
        "The brewery in Teiphaes makes a dark rye ale and a cherry beer in summer.",
    ]

    func makeSource(dense: DenseRetrieval?) throws -> (MemoryStore, StoreMemorySource) {
        let directory = try TestPaths.temporaryFolder(self)
        let store = try MemoryStore(path: directory.appendingPathComponent("kb.sqlite").path)
        for (i, text) in Self.texts.enumerated() {
            _ = try store.insertDocument(NewDocument(
                title: "doc \(i)", source: "t", sha256: "sha-\(i)", bytes: text.utf8.count,
                references: [NewReference(ordinal: 0, text: text, tokenCount: 16, memories: [NewMemory(profile: "dense", codec: "raw", blob: [0])],
                                          embedding: dense?.storedEmbedding(text))]))
        }
        return (store, StoreMemorySource(store: store, profile: "dense", modelFingerprint: "", dense: dense))
    }

    func retrieve(_ port: Int, _ body: String) throws -> (status: Int, json: [String: Any]) {
        let r = try TestHTTPClient.request(port: port, "POST", "/v1/retrieve", body: body)
        return (r.status, (try? r.json()) ?? [:])
    }

    func testEachRetrieverAnswersWithItsScores() throws {
        let dense = try DenseRetrieval.load(folder: try TestPaths.requireMiniLM(), threads: 2)
        let (store, source) = try makeSource(dense: dense)
        let server = try TestServers.start(self, engine: nil)
        server.setKnowledgeBase(store, source: source)

        // No word in common with the ferry page: BM25 finds nothing, the embedding finds it.
        let paraphrase = #"{"query": "boat timetable mornings", "k": 2"#
        let lexical = try retrieve(server.port, paraphrase + #", "retriever": "bm25"}"#)
        XCTAssertEqual(lexical.status, 200)
        XCTAssertEqual(lexical.json["retriever"] as? String, "bm25")
        XCTAssertEqual((lexical.json["data"] as? [Any])?.count, 0)
        for kind in ["dense", "hybrid"] {
            let found = try retrieve(server.port, paraphrase + #", "retriever": "\#(kind)"}"#)
            XCTAssertEqual(found.status, 200)
            XCTAssertEqual(found.json["retriever"] as? String, kind)
            let hits = try XCTUnwrap(found.json["data"] as? [[String: Any]])
            XCTAssertEqual(hits.first?["document_title"] as? String, "doc 0", kind)
            XCTAssertNotNil(hits.first?["cosine"] as? Double)
        }
        // Hybrid: a hit BM25 found carries both parts; the default retriever is hybrid.
        let both = try retrieve(server.port, #"{"query": "Who kept Varnholt lighthouse?"}"#)
        XCTAssertEqual(both.json["retriever"] as? String, "hybrid")
        let first = try XCTUnwrap((both.json["data"] as? [[String: Any]])?.first)
        XCTAssertEqual(first["document_title"] as? String, "doc 1")
        XCTAssertNotNil(first["bm25_score"] as? Double)
        XCTAssertNotNil(first["cosine"] as? Double)

        let unknown = try retrieve(server.port, #"{"query": "x", "retriever": "vector"}"#)
        XCTAssertEqual(unknown.status, 400)
        XCTAssertEqual((unknown.json["error"] as? [String: Any])?["param"] as? String, "retriever")
    }

    func testWithoutAnEncoderOnlyBM25IsOffered() throws {
        let (store, source) = try makeSource(dense: nil)
        let server = try TestServers.start(self, engine: nil)
        server.setKnowledgeBase(store, source: source)
        let refused = try retrieve(server.port, #"{"query": "ferry", "retriever": "hybrid"}"#)
        XCTAssertEqual(refused.status, 400)
        XCTAssertEqual((refused.json["error"] as? [String: Any])?["code"] as? String, "retriever_unavailable")
        let plain = try retrieve(server.port, #"{"query": "ferry"}"#)
        XCTAssertEqual(plain.json["retriever"] as? String, "bm25")
        XCTAssertEqual(((plain.json["data"] as? [[String: Any]])?.first)?["document_title"] as? String, "doc 0")
    }
}
