import Foundation
import Memory3Memory
@testable import Memory3Server
import MemoryStore
import XCTest

/// What an accepted upload survives: a stop before it is encoded (the next start resumes it), a
/// cancel, a newer upload under the same `external_id` (which replaces the document), and how
/// ingestions are listed by state.
final class DurableIngestionTests: XCTestCase {
    func storePath() throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-durable-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return directory.appendingPathComponent("kb.sqlite").path
    }

    func post(_ port: Int, _ object: [String: Any], path: String = "/v1/documents") throws -> WireResponse {
        let body = try JSONSerialization.data(withJSONObject: object)
        return try TestHTTPClient.request(port: port, "POST", path, body: String(decoding: body, as: UTF8.self))
    }

    func testAnUploadAcceptedBeforeAStopIsResumedByTheNextStart() throws {
        let path = try storePath()
        let first = try MemoryStore(path: path)
        let server = Memory3Server(configuration: TestServers.configuration(), engine: TestServers.scriptedEngine(interval: 0),
                                   log: RequestLog(enabled: false))
        try server.start()
        server.setKnowledgeBase(first)
        server.setIngestion(try slowPipeline(first, delay: 0.1))
        let r = try post(server.port, ["title": "long", "text": IngestionFixtures.longText])
        XCTAssertEqual(r.status, 202, r.text)
        let id = try XCTUnwrap(try r.json()["id"] as? String)
        usleep(800_000)  // a few batches committed, most of the document not
        server.shutdown(grace: 1)

        let reopened = try MemoryStore(path: path)
        let left = try XCTUnwrap(try reopened.ingestion(id: id))
        XCTAssertEqual(left.state, .encoding, "the stop must leave the ingestion pending, not lost")
        XCTAssertGreaterThan(left.referencesDone, 0)
        XCTAssertLessThan(left.referencesDone, left.referencesTotal ?? 0)
        XCTAssertEqual(try reopened.documents().count, 0, "a half-encoded document must not be visible")

        let second = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        second.setKnowledgeBase(reopened)
        second.setIngestion(try slowPipeline(reopened, delay: 0))
        let done = try waitForIngestion(second.port, "/v1/documents/\(id)")
        XCTAssertEqual(done["status"] as? String, "ready", "\(done)")
        let documentId = try XCTUnwrap((done["document_id"] as? NSNumber)?.int64Value)
        let stored = try XCTUnwrap(try reopened.document(id: documentId))
        XCTAssertEqual(try reopened.documents().count, 1)
        XCTAssertEqual(stored.references.count, left.referencesTotal)
        XCTAssertEqual(stored.references.map(\.ordinal), Array(0 ..< stored.references.count), "each reference exactly once")
        XCTAssertEqual(try reopened.statistics().memories, stored.references.count)
        XCTAssertEqual(try reopened.integrityProblems(), [])
    }

    func testAnIngestionLeftByAGoneProcessIsTakenOverWhileServing() throws {
        let saved = IngestionService.rescanInterval
        IngestionService.rescanInterval = 0.2
        defer { IngestionService.rescanInterval = saved }
        let (server, store) = try tinyServer()
        // A `memory3 ingest` on this host recorded a document and died before encoding it.
        let (model, tokenizer) = TestServers.tinyModel
        let host = IngestionOwner.current.split(separator: ":")[0]
        let dead = IngestionPipeline(store: store, encoder: try MemoryEncoder(model: model, tokenizer: tokenizer, profile: .dense),
                                     fingerprint: ModelFingerprint.of(model.file), owner: "\(host):999999996:x")
        let record = try XCTUnwrap(try dead.enqueue([DocumentInput(title: "orphan", source: "cli", bytes: Array("Left behind by a crash.".utf8),
                                                                   format: .plain)]).first)
        let done = try waitForIngestion(server.port, "/v1/documents/\(record.id)")
        XCTAssertEqual(done["status"] as? String, "ready", "\(done)")
        XCTAssertEqual(try store.documents().map(\.title), ["orphan"])
    }

    func testAPendingIngestionCanBeCancelledAndLeavesNothing() throws {
        let store = try MemoryStore(path: try storePath())
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        server.setKnowledgeBase(store)
        server.setIngestion(try slowPipeline(store, delay: 0.05))
        let r = try post(server.port, ["title": "long", "text": IngestionFixtures.longText])
        let id = try XCTUnwrap(try r.json()["id"] as? String)
        usleep(300_000)

        let pending = try TestHTTPClient.request(port: server.port, "GET", "/v1/documents?state=queued,encoding").json()
        XCTAssertEqual((pending["data"] as? [[String: Any]])?.compactMap { $0["id"] as? String }, [id])

        let cancelled = try TestHTTPClient.request(port: server.port, "DELETE", "/v1/documents/\(id)")
        XCTAssertEqual(cancelled.status, 200, cancelled.text)
        XCTAssertEqual(try cancelled.json()["status"] as? String, "cancelled")
        let again = try TestHTTPClient.request(port: server.port, "DELETE", "/v1/documents/\(id)")
        XCTAssertEqual(again.status, 409, again.text)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "DELETE", "/v1/documents/ing_nothing").status, 404)

        usleep(300_000)  // the worker notices at its next commit
        XCTAssertEqual(server.scheduler.backgroundDepth, 0)
        XCTAssertEqual(try store.documents().count, 0)
        XCTAssertEqual(try store.statistics().references, 0, "the committed batches of a cancelled ingestion go")
        let listed = try TestHTTPClient.request(port: server.port, "GET", "/v1/documents?state=cancelled").json()
        XCTAssertEqual((listed["data"] as? [[String: Any]])?.first?["status"] as? String, "cancelled")
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "GET", "/v1/documents?state=lost").status, 400)
    }

    func testTheSameExternalIDWithNewTextReplacesTheDocument() throws {
        let (server, store) = try tinyServer()
        let port = server.port
        let v1 = try post(port, ["title": "guide", "external_id": "guide-1", "text": "The ferry leaves from pier seven at noon."])
        let first = try waitForIngestion(port, try XCTUnwrap(try v1.json()["status_url"] as? String))
        let id = try XCTUnwrap((first["document_id"] as? NSNumber)?.int64Value)

        let v2 = try post(port, ["title": "guide", "external_id": "guide-1", "text": "The tram departs from platform nine at dusk."])
        let second = try waitForIngestion(port, try XCTUnwrap(try v2.json()["status_url"] as? String))
        XCTAssertEqual(second["status"] as? String, "ready", "\(second)")
        XCTAssertEqual((second["document_id"] as? NSNumber)?.int64Value, id, "the document keeps its id")

        XCTAssertEqual(try store.documents().count, 1)
        let stored = try XCTUnwrap(try store.document(id: id))
        XCTAssertEqual(stored.summary.externalKey, "guide-1")
        XCTAssertTrue(stored.references.allSatisfy { $0.text.contains("tram") })
        XCTAssertTrue(try store.search("ferry pier", limit: 5).isEmpty, "the old version's references are gone from retrieval")
        XCTAssertEqual(try store.search("tram platform", limit: 5).first?.documentId, id)

        let same = try post(port, ["title": "guide", "external_id": "guide-1", "text": "The tram departs from platform nine at dusk."])
        let third = try waitForIngestion(port, try XCTUnwrap(try same.json()["status_url"] as? String))
        XCTAssertEqual(third["status"] as? String, "skipped", "the same text again is a no-op")
        XCTAssertEqual(try store.documents().count, 1)
        XCTAssertEqual(try TestHTTPClient.request(port: port, "GET", "/v1/documents/\(id)").json()["external_id"] as? String, "guide-1")
    }
}
