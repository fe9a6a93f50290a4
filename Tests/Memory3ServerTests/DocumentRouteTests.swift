import Foundation
@testable import Memory3Server
import MemoryStore
import XCTest

/// The knowledge-base routes over a real SQLite store.
final class DocumentRouteTests: XCTestCase {
    func makeStore() throws -> MemoryStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-server-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return try MemoryStore(path: directory.appendingPathComponent("kb.sqlite").path)
    }

    func document(_ title: String, _ texts: [String]) -> NewDocument {
        NewDocument(title: title, source: "\(title).md", sha256: String(repeating: "0", count: 56) + String(format: "%08x", abs(title.hashValue) % 0xFFFF_FFFF),
                    bytes: texts.joined().utf8.count,
                    references: texts.enumerated().map { NewReference(ordinal: $0, text: $1, tokenCount: $1.split(separator: " ").count, memories: []) })
    }

    func testWithoutAStoreTheRoutesAnswer503() throws {
        let server = try TestServers.start(self, engine: nil)
        for (method, path) in [("GET", "/v1/documents"), ("GET", "/v1/documents/1"), ("DELETE", "/v1/documents/1")] {
            let r = try TestHTTPClient.request(port: server.port, method, path)
            XCTAssertEqual(r.status, 503, "\(method) \(path)")
            XCTAssertTrue(((try r.json()["error"] as? [String: Any])?["message"] as? String)?.contains("--db") == true)
        }
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/retrieve", body: #"{"query": "x"}"#).status, 503)
    }

    func testListShowRetrieveAndDeleteDocuments() throws {
        let store = try makeStore()
        let first = try store.insertDocument(document("memory", ["Explicit memory stores key value pairs of references.", "Retrieval happens every 64 tokens."]))
        let second = try store.insertDocument(document("server", ["The server speaks the OpenAI protocol over HTTP."]))
        let server = try TestServers.start(self, engine: nil)
        server.setKnowledgeBase(store)

        let list = try TestHTTPClient.request(port: server.port, "GET", "/v1/documents").json()
        let data = try XCTUnwrap(list["data"] as? [[String: Any]])
        XCTAssertEqual(data.compactMap { ($0["id"] as? NSNumber)?.int64Value }, [first, second])
        XCTAssertEqual(data.first?["references"] as? Int, 2)
        XCTAssertEqual(data.first?["status"] as? String, "ready")
        XCTAssertEqual(list["has_more"] as? Bool, false)
        let page = try TestHTTPClient.request(port: server.port, "GET", "/v1/documents?limit=1").json()
        XCTAssertEqual((page["data"] as? [Any])?.count, 1)
        XCTAssertEqual(page["has_more"] as? Bool, true)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "GET", "/v1/documents?limit=zero").status, 400)

        let shown = try TestHTTPClient.request(port: server.port, "GET", "/v1/documents/\(first)?include=text").json()
        XCTAssertEqual(shown["title"] as? String, "memory")
        let items = try XCTUnwrap(shown["items"] as? [[String: Any]])
        XCTAssertEqual(items.count, 2)
        XCTAssertEqual(items[1]["text"] as? String, "Retrieval happens every 64 tokens.")

        let retrieved = try TestHTTPClient.request(port: server.port, "POST", "/v1/retrieve", body: #"{"query": "how often does retrieval happen?", "k": 3}"#)
        XCTAssertEqual(retrieved.status, 200, retrieved.text)
        let hits = try XCTUnwrap(try retrieved.json()["data"] as? [[String: Any]])
        XCTAssertEqual(hits.first?["text"] as? String, "Retrieval happens every 64 tokens.")
        XCTAssertEqual(hits.first?["document_title"] as? String, "memory")
        XCTAssertNotNil(hits.first?["score"] as? Double)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/retrieve", body: #"{"k": 3}"#).status, 400)

        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "DELETE", "/v1/documents/\(first)").status, 200)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "GET", "/v1/documents/\(first)").status, 404)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "DELETE", "/v1/documents/\(first)").status, 404)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "GET", "/v1/documents/abc").status, 404)
        XCTAssertTrue(try TestHTTPClient.request(port: server.port, "GET", "/metrics").text.contains("memory3_documents 1"))
    }

    func testDocumentWritesNeedAKeyWhenKeysAreConfigured() throws {
        let store = try makeStore()
        let id = try store.insertDocument(document("keyed", ["some text here"]))
        let server = try TestServers.start(self, engine: nil) { $0.apiKeys = ["k1"] }
        server.setKnowledgeBase(store)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "DELETE", "/v1/documents/\(id)").status, 401)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "DELETE", "/v1/documents/\(id)", headers: [("Authorization", "Bearer k1")]).status, 200)
    }
}
