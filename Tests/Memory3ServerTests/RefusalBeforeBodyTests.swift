import Foundation
@testable import Memory3Server
import XCTest

/// Route, method and API key are checked as soon as the headers are in: a request that will be
/// refused gets its answer before any byte of its body is read (so nobody without a key can make
/// the server read and hold 32 MB), and metric labels stay a closed set whatever a client sends.
final class RefusalBeforeBodyTests: XCTestCase {
    /// Sends only the head of a request announcing a 32 MB body and reads the answer.
    func headOnly(_ port: Int, _ method: String, _ path: String, headers: [(String, String)] = []) throws -> WireResponse {
        let client = try TestHTTPClient(port: port)
        client.setReceiveTimeout(5)  // a server waiting for the body would never answer
        var head = "\(method) \(path) HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: \(32 << 20)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        client.send(head + "\r\n")
        return try client.readResponse()
    }

    func testRefusalsComeBeforeTheBody() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0)) { $0.apiKeys = ["sekret"] }
        let port = server.port

        let missing = try headOnly(port, "POST", "/v1/documents")
        XCTAssertEqual(missing.status, 401, missing.text)
        XCTAssertEqual(missing.header("Connection"), "close")
        XCTAssertEqual(missing.header("WWW-Authenticate"), "Bearer")
        XCTAssertEqual(try missing.json()["error"].flatMap { ($0 as? [String: Any])?["code"] as? String }, "missing_api_key")
        XCTAssertEqual(try headOnly(port, "POST", "/v1/documents", headers: [("Authorization", "Bearer wrong")]).status, 401)
        XCTAssertEqual(try headOnly(port, "POST", "/v1/nothing-here").status, 404)
        let wrongMethod = try headOnly(port, "PATCH", "/v1/completions")
        XCTAssertEqual(wrongMethod.status, 405)
        XCTAssertEqual(wrongMethod.header("Allow"), "POST")

        // With the key, the same head waits for its body (no answer within the read timeout).
        let client = try TestHTTPClient(port: port)
        client.setReceiveTimeout(0.5)
        client.send("POST /v1/completions HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer sekret\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
        XCTAssertThrowsError(try client.readResponse(), "an authorized request's body is read")

        // A refused request without a body keeps its ordinary answer.
        XCTAssertEqual(try TestHTTPClient.request(port: port, "GET", "/v1/models").status, 401)
        XCTAssertEqual(try TestHTTPClient.request(port: port, "GET", "/health").status, 200)
    }

    func testMadeUpMethodsShareOneMetricLabel() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        let port = server.port
        for i in 0 ..< 20 {
            XCTAssertEqual(try TestHTTPClient.request(port: port, "FOO\(i)X", "/v1/models").status, 405)
        }
        _ = try TestHTTPClient.request(port: port, "GET", "/metrics")  // the scrape's own series exist from here on
        usleep(100_000)
        let before = try TestHTTPClient.request(port: port, "GET", "/metrics").text
        for i in 20 ..< 60 {
            _ = try TestHTTPClient.request(port: port, "M\(String(repeating: "Q", count: 200 + i))", "/v1/models")
        }
        usleep(100_000)
        let after = try TestHTTPClient.request(port: port, "GET", "/metrics").text
        XCTAssertFalse(after.contains("FOO"), "a made-up method must not become a label")
        XCTAssertTrue(after.contains(#"method="other""#), after)
        XCTAssertEqual(before.split(separator: "\n").count, after.split(separator: "\n").count, "more made-up methods, no more series")
    }
}
