import Foundation
@testable import Memory3Server
import XCTest

/// Every response names its request (`X-Request-Id`, and `error.request_id` in error bodies), and
/// the request's log line carries it with the route and, for a completion, what it cost.
final class RequestLogTests: XCTestCase {
    func start(format: RequestLog.Format, lines: LogLines) throws -> Memory3Server {
        let log = RequestLog(enabled: true, format: format) { lines.append($0) }
        let server = Memory3Server(configuration: TestServers.configuration(), engine: TestServers.scriptedEngine(interval: 0), log: log)
        try server.start()
        addTeardownBlock { server.shutdown(grace: 1) }
        return server
    }

    func testEveryResponseCarriesItsRequestID() throws {
        let lines = LogLines()
        let server = try start(format: .text, lines: lines)
        let ok = try TestHTTPClient.request(port: server.port, "GET", "/health")
        let id = try XCTUnwrap(ok.header("X-Request-Id"))
        XCTAssertNotNil(id.range(of: "^req_[0-9a-f]{24}$", options: .regularExpression), id)

        let missing = try TestHTTPClient.request(port: server.port, "GET", "/v1/nothing")
        let body = try XCTUnwrap(try missing.json()["error"] as? [String: Any])
        XCTAssertEqual(body["request_id"] as? String, missing.header("X-Request-Id"))
        XCTAssertEqual(body["message"] as? String, "no route for '/v1/nothing'")

        let given = try TestHTTPClient.request(port: server.port, "GET", "/health", headers: [("X-Request-Id", "trace-42.a_b")])
        XCTAssertEqual(given.header("X-Request-Id"), "trace-42.a_b", "a client's sane id is kept")
        let odd = try TestHTTPClient.request(port: server.port, "GET", "/health", headers: [("X-Request-Id", "has space")])
        XCTAssertNotEqual(odd.header("X-Request-Id"), "has space")

        // Refused by the HTTP layer (bad JSON is the API's; a bad header line is the parser's).
        let client = try TestHTTPClient(port: server.port)
        client.send("GET /health HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
        let malformed = try client.readResponse()
        XCTAssertEqual(malformed.status, 400)
        XCTAssertEqual((try malformed.json()["error"] as? [String: Any])?["request_id"] as? String, malformed.header("X-Request-Id"))

        XCTAssertTrue(eventually { lines.all.contains { $0.contains("request_id=\(id)") && $0.contains("route=/health") } }, "\(lines.all)")
    }

    func testJSONLinesCarryTheCompletionsCost() throws {
        let lines = LogLines()
        let server = try start(format: .json, lines: lines)
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 3}"#,
                                           headers: [("X-Request-Id", "abc-1")])
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(eventually { lines.all.contains { $0.contains(#""request_id":"abc-1""#) } })
        let line = try XCTUnwrap(lines.all.first { $0.contains(#""request_id":"abc-1""#) })
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        XCTAssertEqual(object["route"] as? String, "/v1/completions")
        XCTAssertEqual(object["status"] as? Int, 200)
        XCTAssertEqual(object["completion_tokens"] as? Int, 3)
        XCTAssertEqual(object["memory_mode"] as? String, "off")
        XCTAssertNotNil(object["prompt_tokens"] as? Int)
        XCTAssertNotNil(object["queue_wait_ms"] as? Double ?? (object["queue_wait_ms"] as? Int).map(Double.init))
        XCTAssertNotNil(object["ttft_ms"])
        XCTAssertNotNil(object["duration_ms"])
        XCTAssertEqual(object["level"] as? String, "info")
        // Server events are JSON lines too.
        XCTAssertTrue(lines.all.allSatisfy { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) != nil }, "\(lines.all)")
    }
}
