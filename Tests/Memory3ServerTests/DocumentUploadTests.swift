import Foundation
import Memory3Memory
@testable import Memory3Server
import MemoryStore
import Synchronization
import XCTest

/// Uploads: 202 with a status URL, encoding in the background between completions, then the
/// document in the store; every kind of body, deduplication, replacement, and bad uploads.
final class DocumentUploadTests: XCTestCase {
    static let markdown = """
        # Tides

        The tide rises and falls twice a day because of the moon's pull on the oceans.

        ## Spring tides

        When the sun and the moon line up, the tides are higher than usual: these are spring tides.
        """

    func testJSONUploadIsEncodedAndStored() throws {
        let (server, store) = try tinyServer()
        let body = try JSONSerialization.data(withJSONObject: ["title": "tides.md", "text": Self.markdown, "source": "notes"])
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/documents", body: String(decoding: body, as: UTF8.self))
        XCTAssertEqual(r.status, 202, r.text)
        let accepted = try r.json()
        let statusURL = try XCTUnwrap(accepted["status_url"] as? String)
        XCTAssertEqual(r.header("Location"), statusURL)
        XCTAssertEqual(accepted["object"] as? String, "document.ingestion")

        let done = try waitForIngestion(server.port, statusURL)
        XCTAssertEqual(done["status"] as? String, "ready", "\(done)")
        let id = try XCTUnwrap((done["document_id"] as? NSNumber)?.int64Value)
        XCTAssertEqual(done["references_done"] as? Int, done["references_total"] as? Int)
        let stored = try XCTUnwrap(try store.document(id: id))
        XCTAssertEqual(stored.summary.title, "tides.md")
        XCTAssertEqual(stored.summary.source, "notes")
        XCTAssertEqual(try store.statistics().memories, stored.references.count)
        XCTAssertTrue(stored.references.contains { $0.text.contains("spring tides") })

        // The same content again is skipped, pointing at the stored document.
        let again = try TestHTTPClient.request(port: server.port, "POST", "/v1/documents", body: String(decoding: body, as: UTF8.self))
        let skipped = try waitForIngestion(server.port, try XCTUnwrap(try again.json()["status_url"] as? String))
        XCTAssertEqual(skipped["status"] as? String, "skipped")
        XCTAssertEqual((skipped["document_id"] as? NSNumber)?.int64Value, id)

        // The status is committed to the store a moment before the ingestion's metrics are counted.
        var metrics = ""
        for _ in 0 ..< 40 {
            metrics = try TestHTTPClient.request(port: server.port, "GET", "/metrics").text
            if metrics.contains(#"memory3_ingestions_total{status="skipped"} 1"#) { break }
            Thread.sleep(forTimeInterval: 0.05)
        }
        XCTAssertTrue(metrics.contains(#"memory3_ingestions_total{status="ready"} 1"#), metrics)
        XCTAssertTrue(metrics.contains(#"memory3_ingestions_total{status="skipped"} 1"#), metrics)
        XCTAssertTrue(metrics.contains("memory3_ingested_references_total \(stored.references.count)"), metrics)

        // Retrieval finds it.
        let hits = try TestHTTPClient.request(port: server.port, "POST", "/v1/retrieve", body: #"{"query": "why are spring tides high"}"#).json()
        XCTAssertEqual(((hits["data"] as? [[String: Any]])?.first?["document_id"] as? NSNumber)?.int64Value, id)
    }

    func testPlainMarkdownAndMultipartBodies() throws {
        let (server, store) = try tinyServer()
        let plain = try TestHTTPClient.request(port: server.port, "POST", "/v1/documents?title=sea%20notes&source=s1",
                                               body: "Salt water covers most of the planet.", headers: [("Content-Type", "text/plain")])
        XCTAssertEqual(plain.status, 202, plain.text)
        let markdown = try TestHTTPClient.request(port: server.port, "POST", "/v1/documents", body: Self.markdown,
                                                  headers: [("Content-Type", "text/markdown; charset=utf-8"), ("X-Document-Title", "tides")])
        XCTAssertEqual(markdown.status, 202, markdown.text)

        let boundary = "----memory3test"
        let form = [
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot a file\r\n",
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.md\"\r\nContent-Type: text/markdown\r\n\r\n# A\n\nAlpha text about rivers.\r\n",
            "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.txt\"\r\n\r\nBeta text about lakes.\r\n",
            "--\(boundary)--\r\n",
        ].joined()
        let multi = try TestHTTPClient.request(port: server.port, "POST", "/v1/documents", body: form,
                                               headers: [("Content-Type", "multipart/form-data; boundary=\(boundary)")])
        XCTAssertEqual(multi.status, 202, multi.text)
        let jobs = try XCTUnwrap(try multi.json()["data"] as? [[String: Any]])
        XCTAssertEqual(jobs.compactMap { $0["title"] as? String }, ["a.md", "b.txt"])

        for url in [try plain.json()["status_url"], try markdown.json()["status_url"]] + jobs.map({ $0["status_url"] }) {
            XCTAssertEqual(try waitForIngestion(server.port, try XCTUnwrap(url as? String))["status"] as? String, "ready")
        }
        let titles = try store.documents().map(\.title)
        XCTAssertEqual(Set(titles), ["sea notes", "tides", "a.md", "b.txt"])
        XCTAssertEqual(try store.documents().first { $0.title == "sea notes" }?.source, "s1")
    }

    func testReplaceKeepsTheIdAndSwapsTheContent() throws {
        let (server, store) = try tinyServer()
        let first = try TestHTTPClient.request(port: server.port, "POST", "/v1/documents", body: #"{"title": "v1", "text": "The first version talks about rain."}"#)
        let id = try XCTUnwrap((try waitForIngestion(server.port, try XCTUnwrap(try first.json()["status_url"] as? String))["document_id"] as? NSNumber)?.int64Value)
        let put = try TestHTTPClient.request(port: server.port, "PUT", "/v1/documents/\(id)", body: #"{"title": "v2", "text": "The second version talks about snow."}"#)
        XCTAssertEqual(put.status, 202, put.text)
        let done = try waitForIngestion(server.port, try XCTUnwrap(try put.json()["status_url"] as? String))
        XCTAssertEqual((done["document_id"] as? NSNumber)?.int64Value, id)
        let stored = try XCTUnwrap(try store.document(id: id))
        XCTAssertEqual(stored.summary.title, "v2")
        XCTAssertTrue(stored.references.allSatisfy { $0.text.contains("snow") })
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "PUT", "/v1/documents/999", body: #"{"title": "x", "text": "y"}"#).status, 404)
    }

    func testBadUploadsAreRefused() throws {
        let (server, _) = try tinyServer()
        let port = server.port
        func post(_ body: [UInt8], type: String) throws -> Int {
            let client = try TestHTTPClient(port: port)
            client.send(Array("POST /v1/documents HTTP/1.1\r\nHost: a\r\nContent-Type: \(type)\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            return try client.readResponse().status
        }
        XCTAssertEqual(try post(Array("abc".utf8) + [0] + Array("def".utf8), type: "text/plain"), 400)
        XCTAssertEqual(try post([0x61, 0xFF, 0x62], type: "text/plain"), 400)
        XCTAssertEqual(try post(Array("   \n\t".utf8), type: "text/plain"), 400)
        XCTAssertEqual(try post(Array("%PDF-1.7".utf8), type: "application/pdf"), 415)
        XCTAssertEqual(try post(Array(#"{"title": "t"}"#.utf8), type: "application/json"), 400)
        XCTAssertEqual(try post(Array(#"{"title": "", "text": "words"}"#.utf8), type: "application/json"), 400)
        XCTAssertEqual(try post(Array("--x\r\nbroken".utf8), type: "multipart/form-data; boundary=x"), 400)
        XCTAssertEqual(try post(Array("--x--\r\n".utf8), type: "multipart/form-data; boundary=x"), 400)
        XCTAssertEqual(try post(Array("text".utf8), type: "multipart/form-data"), 400)
        XCTAssertEqual(try TestHTTPClient.request(port: port, "GET", "/v1/documents/ing_nothing").status, 404)
        // Over the 32 MiB document limit: refused from the announced length.
        let client = try TestHTTPClient(port: port)
        client.send("POST /v1/documents HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: \(33 << 20)\r\n\r\n")
        XCTAssertEqual(try client.readResponse().status, 413)
    }

    func testIngestionHoldsACompletionUpForAtMostOneReference() throws {
        let store = try makeUploadStore()
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        server.setKnowledgeBase(store)
        server.setIngestion(try slowPipeline(store, delay: 0.05))  // seconds of encoding
        let body = try JSONSerialization.data(withJSONObject: ["title": "big", "text": IngestionFixtures.longText])
        let upload = try TestHTTPClient.request(port: server.port, "POST", "/v1/documents", body: String(decoding: body, as: UTF8.self))
        XCTAssertEqual(upload.status, 202)
        usleep(300_000)
        XCTAssertEqual(server.scheduler.backgroundDepth, 1)
        XCTAssertTrue(try TestHTTPClient.request(port: server.port, "GET", "/metrics").text.contains("memory3_ingestion_queue 1"))
        let start = Date()
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 3}"#)
        let waited = Date().timeIntervalSince(start)
        XCTAssertEqual(r.status, 200)
        XCTAssertLessThan(waited, 0.4, "the completion waited \(waited) s behind the ingestion")
        let status = try TestHTTPClient.request(port: server.port, "GET", try XCTUnwrap(try upload.json()["status_url"] as? String)).json()
        XCTAssertEqual(status["status"] as? String, "encoding")
        XCTAssertGreaterThan(status["references_total"] as? Int ?? 0, 40)
    }
}
