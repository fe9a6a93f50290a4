import Foundation
@testable import Memory3Server
import MemoryStore
import XCTest

/// Error answers say what went wrong in the server's own words: no parser or Swift error dumps,
/// the field a client sent, the deadline it was given, 507 for a full disk.
final class ErrorMessageTests: XCTestCase {
    func testBadJSONIsDescribedWithoutFoundationOrSwiftText() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        for body in [#"{"prompt": "x" "y"}"#, #"{"prompt": 'x'}"#, "[1, 2", String(repeating: "[", count: 10_000)] {
            let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: body)
            XCTAssertEqual(r.status, 400, body)
            let message = try XCTUnwrap((try r.json()["error"] as? [String: Any])?["message"] as? String)
            XCTAssertTrue(message.hasPrefix("the request body is not valid JSON"), message)
            for leak in ["NSCocoaErrorDomain", "DecodingError", "UserInfo", "Context(", "codingPath"] {
                XCTAssertFalse(message.contains(leak), message)
            }
        }
    }

    func testTheContextErrorNamesTheFieldTheClientSent() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        let long = String(repeating: "word ", count: 100)
        let completion = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                                    body: #"{"prompt": "\#(long)", "max_tokens": 200}"#)
        XCTAssertEqual(completion.status, 400, completion.text)
        XCTAssertEqual((try completion.json()["error"] as? [String: Any])?["param"] as? String, "prompt")
        let chat = try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions",
                                              body: #"{"messages": [{"role": "user", "content": "\#(long)"}], "max_tokens": 200}"#)
        XCTAssertEqual(chat.status, 400, chat.text)
        XCTAssertEqual((try chat.json()["error"] as? [String: Any])?["param"] as? String, "messages")
    }

    func testDeadlinesAreQuotedAsConfigured() {
        XCTAssertEqual(APIError.deadlineExceeded(seconds: 29.98).description, "the request did not finish within its deadline of 30 s")
        XCTAssertEqual(APIError.deadlineExceeded(seconds: 0.5).description, "the request did not finish within its deadline of 0.5 s")
    }

    func testAFullDiskIs507NotAnInternalError() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-full-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try MemoryStore(path: directory.appendingPathComponent("kb.sqlite").path)
        // A store that may not grow stands in for a full disk: SQLite answers SQLITE_FULL the same way.
        try store.limitPageCountForTesting()
        let big = NewDocument(title: "t", source: "s", sha256: "x", bytes: 1, references: [
            NewReference(ordinal: 0, text: "t", tokenCount: 1, memories: [NewMemory(profile: "dense", codec: "int8", blob: [UInt8](repeating: 7, count: 1 << 20))]),
        ])
        XCTAssertThrowsError(try store.insertDocument(big)) { error in
            guard case .diskFull = error as? MemoryStoreError else { return XCTFail("\(error)") }
            let api = DocumentRoutes.apiError(error as! MemoryStoreError)
            XCTAssertEqual(api.status.code, 507)
            XCTAssertTrue(api.description.contains("is full"), api.description)
        }
        XCTAssertEqual(try store.documents().count, 0)
    }
}
