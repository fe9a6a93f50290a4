import Foundation
@testable import Memory3Server
import XCTest

/// Requests run on a bounded pool of threads; work for a client that left while it waited is
/// dropped, not done.
final class RequestPoolTests: XCTestCase {
    func testThePoolRunsEveryJobOnAtMostItsThreads() {
        let pool = RequestPool(maxThreads: 3)
        let done = LogLines()
        for i in 0 ..< 200 { pool.submit { usleep(1000); done.append("\(i)") } }
        XCTAssertTrue(eventually { done.all.count == 200 })
        XCTAssertLessThanOrEqual(pool.threadCount, 3)
        XCTAssertEqual(Set(done.all).count, 200)
    }

    func testRequestsOfClientsThatLeftWhileQueuedAreDropped() throws {
        let lines = LogLines()
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0.05), lines: lines) {
            $0.limits.maxRequestThreads = 1
        }
        // The only thread streams a completion for about a second...
        let streaming = try TestHTTPClient(port: server.port)
        streaming.send(TestHTTPClient.format("POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 20, "stream": true}"#))
        usleep(100_000)
        // ...while 30 clients ask for /metrics and leave at once.
        for _ in 0 ..< 30 {
            let client = try TestHTTPClient(port: server.port)
            client.send(TestHTTPClient.format("GET", "/metrics"))
            client.reset()
        }
        let r = try streaming.readResponse()
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(eventually { lines.all.filter { $0.contains("GET /metrics 499") }.count == 30 }, "\(lines.all.suffix(5))")
        XCTAssertEqual(server.http.requestThreadCount, 1)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "GET", "/health").status, 200)
    }

    func testProbesAnswerWhileEveryRequestThreadIsBusy() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0.05)) {
            $0.limits.maxRequestThreads = 1
        }
        let streaming = try TestHTTPClient(port: server.port)
        // The stream holds the only request thread for about 6 s; a probe queued behind it would
        // not be answered before the 3 s read timeout.
        streaming.send(TestHTTPClient.format("POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 120, "stream": true}"#))
        usleep(200_000)
        let health = try TestHTTPClient(port: server.port, receiveTimeout: 3)
        XCTAssertEqual(try health.request("GET", "/health").status, 200, "/health must not wait for the streaming request's thread")
        XCTAssertEqual(try health.request("GET", "/ready").status, 200)
        XCTAssertEqual(try streaming.readResponse().status, 200)
    }
}
