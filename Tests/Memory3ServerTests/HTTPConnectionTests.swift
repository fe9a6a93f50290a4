import Foundation
@testable import Memory3Server
import XCTest

/// The HTTP layer over a real socket: keep-alive, chunked bodies, 100-continue, routing
/// statuses, HEAD, HTTP/1.0, pipelining and gzip.
final class HTTPConnectionTests: XCTestCase {
    func testKeepAliveServesManyRequestsOnOneConnection() throws {
        let server = try TestServers.start(self, engine: nil)
        let client = try TestHTTPClient(port: server.port)
        for _ in 0 ..< 20 {
            let r = try client.request("GET", "/health")
            XCTAssertEqual(r.status, 200)
            XCTAssertNil(r.header("Connection"))
            XCTAssertNotNil(r.header("Date")?.range(of: #"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$"#, options: .regularExpression))
            XCTAssertEqual(try r.json()["status"] as? String, "ok")
        }
        XCTAssertEqual(server.http.openConnectionCount, 1)
    }

    func testConnectionCloseIsHonoured() throws {
        let server = try TestServers.start(self, engine: nil)
        let client = try TestHTTPClient(port: server.port)
        let r = try client.request("GET", "/health", headers: [("Connection", "close")])
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertEqual(client.readUntilClosed(), [])
    }

    func testPipelinedRequestsAreAnsweredInOrder() throws {
        let server = try TestServers.start(self, engine: nil)
        let client = try TestHTTPClient(port: server.port)
        client.send(TestHTTPClient.format("GET", "/health") + TestHTTPClient.format("GET", "/nope") + TestHTTPClient.format("GET", "/ready"))
        XCTAssertEqual(try client.readResponse().status, 200)
        XCTAssertEqual(try client.readResponse().status, 404)
        XCTAssertEqual(try client.readResponse().status, 503)  // no model
    }

    func testChunkedRequestBodyIsReassembled() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        let client = try TestHTTPClient(port: server.port)
        let body = #"{"prompt": "hello", "max_tokens": 3}"#
        let bytes = Array(body.utf8)
        var text = "POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        for piece in stride(from: 0, to: bytes.count, by: 7).map({ Array(bytes[$0 ..< min($0 + 7, bytes.count)]) }) {
            text += String(piece.count, radix: 16) + "\r\n" + String(decoding: piece, as: UTF8.self) + "\r\n"
        }
        text += "0\r\n\r\n"
        client.send(text)
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 200, r.text)
        let choices = try XCTUnwrap(try r.json()["choices"] as? [[String: Any]])
        XCTAssertEqual(choices.first?["text"] as? String, "w0 w1 w2 ")
        // The connection still works.
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
    }

    func testExpectContinueGets100BeforeTheBody() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        let client = try TestHTTPClient(port: server.port)
        let body = #"{"prompt": "hi", "max_tokens": 2}"#
        client.send("POST /v1/completions HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n")
        let interim = try client.readResponse()
        XCTAssertEqual(interim.status, 100)
        client.send(body)
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 200, r.text)
    }

    func testExpectContinueWithAnOversizedBodyGets413WithoutSendingIt() throws {
        let server = try TestServers.start(self, engine: nil)
        let client = try TestHTTPClient(port: server.port)
        client.send("POST /v1/completions HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5000000\r\n\r\n")
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 413)
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertEqual(try r.json()["error"].flatMap { $0 as? [String: Any] }?["type"] as? String, "invalid_request_error")
    }

    func testUnknownPathIs404AndWrongMethodIs405WithAllow() throws {
        let server = try TestServers.start(self, engine: nil)
        let notFound = try TestHTTPClient.request(port: server.port, "GET", "/v2/nothing")
        XCTAssertEqual(notFound.status, 404)
        let error = try XCTUnwrap(try notFound.json()["error"] as? [String: Any])
        XCTAssertNotNil(error["message"] as? String)
        XCTAssertEqual(error["type"] as? String, "invalid_request_error")
        XCTAssertTrue(error.keys.contains("code"))

        let wrong = try TestHTTPClient.request(port: server.port, "GET", "/v1/chat/completions")
        XCTAssertEqual(wrong.status, 405)
        XCTAssertEqual(wrong.header("Allow"), "POST")
        let wrong2 = try TestHTTPClient.request(port: server.port, "DELETE", "/health")
        XCTAssertEqual(wrong2.status, 405)
        XCTAssertEqual(wrong2.header("Allow"), "GET, HEAD")
    }

    func testHeadAnswersWithHeadersOnly() throws {
        let server = try TestServers.start(self, engine: nil)
        let client = try TestHTTPClient(port: server.port)
        let head = try client.request("HEAD", "/health")
        XCTAssertEqual(head.status, 200)
        XCTAssertEqual(head.header("Content-Length"), "15")
        // No body followed: the next response parses cleanly.
        XCTAssertEqual(try client.request("GET", "/health").text, #"{"status":"ok"}"#)
    }

    func testHTTP10RequestIsAnsweredAndClosed() throws {
        let server = try TestServers.start(self, engine: nil)
        let client = try TestHTTPClient(port: server.port)
        client.send("GET /health HTTP/1.0\r\n\r\n")
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertEqual(client.readUntilClosed(), [])
    }

    func testMalformedRequestLineGets400AndTheConnectionCloses() throws {
        let server = try TestServers.start(self, engine: nil)
        let client = try TestHTTPClient(port: server.port)
        client.send("GET /health HTTP/1.1 trailing-junk\r\nHost: a\r\n\r\n")
        let r = try client.readResponse()
        XCTAssertEqual(r.status, 400)
        XCTAssertEqual(r.header("Connection"), "close")
        XCTAssertTrue(try XCTUnwrap(try r.json()["error"] as? [String: Any])["message"] is String)
        XCTAssertEqual(client.readUntilClosed(), [])
        // And the server goes on.
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "GET", "/health").status, 200)
    }

    func testLargeJSONIsGzippedWhenTheClientAcceptsIt() throws {
        let server = try TestServers.start(self, engine: nil)
        let plain = try TestHTTPClient.request(port: server.port, "GET", "/metrics")
        XCTAssertNil(plain.header("Content-Encoding"))
        let zipped = try TestHTTPClient.request(port: server.port, "GET", "/metrics", headers: [("Accept-Encoding", "br, gzip;q=0.8")])
        XCTAssertEqual(zipped.header("Content-Encoding"), "gzip")
        XCTAssertEqual(zipped.header("Vary"), "Accept-Encoding")
        XCTAssertLessThan(zipped.body.count, plain.body.count)
        let inflated = try XCTUnwrap(Gzip.decompress(zipped.body))
        XCTAssertTrue(String(decoding: inflated, as: UTF8.self).contains("memory3_http_requests_total"))
        let refused = try TestHTTPClient.request(port: server.port, "GET", "/metrics", headers: [("Accept-Encoding", "gzip;q=0")])
        XCTAssertNil(refused.header("Content-Encoding"))
        // Small bodies stay plain.
        XCTAssertNil(try TestHTTPClient.request(port: server.port, "GET", "/health", headers: [("Accept-Encoding", "gzip")]).header("Content-Encoding"))
    }

    func testEachRequestIsLoggedWithMethodPathStatusAndMilliseconds() throws {
        let lines = LogLines()
        let server = try TestServers.start(self, engine: nil, lines: lines)
        _ = try TestHTTPClient.request(port: server.port, "GET", "/health")
        _ = try TestHTTPClient.request(port: server.port, "GET", "/missing")
        XCTAssertTrue(eventually { lines.all.contains { $0.contains("GET /missing 404") } }, "\(lines.all)")
        let line = try XCTUnwrap(lines.all.first { $0.contains("GET /health 200") })
        XCTAssertNotNil(line.range(of: #"\d+\.\d ms"#, options: .regularExpression), line)
    }

    func testAtTheLimitTheOldestWaitingConnectionMakesRoomAndBusyOnesGet503() throws {
        let server = try TestServers.start(self, engine: nil) { $0.limits.maxConnections = 3 }
        let held = try (0 ..< 3).map { _ in try TestHTTPClient(port: server.port) }
        XCTAssertTrue(eventually { server.http.openConnectionCount == 3 })
        // All three wait silently: the oldest is closed for the newcomer, which is served.
        let newcomer = try TestHTTPClient(port: server.port)
        XCTAssertEqual(try newcomer.request("GET", "/health").status, 200)
        XCTAssertThrowsError(try held[0].request("GET", "/health"), "the oldest waiting connection was closed")
        // Three connections each in the middle of a request: none can go, the next gets 503.
        XCTAssertTrue(eventually { server.http.openConnectionCount == 3 })
        held[1].send("GET /health HTTP/1.1\r\n")
        held[2].send("GET /health HTTP/1.1\r\n")
        newcomer.send("GET /health HTTP/1.1\r\n")
        usleep(100_000)
        let extra = try TestHTTPClient(port: server.port)
        XCTAssertEqual(try extra.readResponse().status, 503)
        held[1].send("Host: a\r\n\r\n")
        XCTAssertEqual(try held[1].readResponse().status, 200)
    }

    func testOneClientsSilentConnectionsCannotKeepHealthOut() throws {
        let server = try TestServers.start(self, engine: nil) { $0.limits.maxConnectionsPerClient = 20 }
        var silent: [TestHTTPClient] = []
        for _ in 0 ..< 100 { silent.append(try TestHTTPClient(port: server.port)) }
        XCTAssertTrue(eventually { server.http.openConnectionCount <= 20 })
        let health = try TestHTTPClient(port: server.port, receiveTimeout: 5)
        XCTAssertEqual(try health.request("GET", "/health").status, 200)
        XCTAssertLessThanOrEqual(server.http.openConnectionCount, 20)
        XCTAssertEqual(try silent[99].request("GET", "/health").status, 200, "the newest silent connections stay")
    }
}
