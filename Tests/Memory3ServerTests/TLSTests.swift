import Foundation
@testable import Memory3Server
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// HTTPS with `tls.cert` and `tls.key`: the same HTTP layer over OpenSSL, with the test
/// certificate of Tests/Fixtures/tls (made by scripts/make-test-certificate.sh).
final class TLSTests: XCTestCase {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tls")
    static let certificate = fixtures.appendingPathComponent("localhost-cert.pem").path
    static let key = fixtures.appendingPathComponent("localhost-key.pem").path
    static let otherKey = fixtures.appendingPathComponent("other-key.pem").path

    func startHTTPS(engine: LanguageModelEngine? = nil, lines: LogLines? = nil,
                    _ adjust: @escaping (inout ServerConfiguration) -> Void = { _ in }) throws -> Memory3Server {
        try TestServers.start(self, engine: engine, lines: lines) { c in
            c.tlsCertificate = Self.certificate
            c.tlsKey = Self.key
            adjust(&c)
        }
    }

    func testHTTPSAnswersSeveralRequestsOnOneConnection() throws {
        let server = try startHTTPS()
        let client = try TestHTTPClient(port: server.port, trusting: Self.certificate)
        for _ in 0 ..< 3 {
            let health = try client.request("GET", "/health")
            XCTAssertEqual(health.status, 200)
            XCTAssertEqual(try health.json()["status"] as? String, "ok")
        }
        let ready = try client.request("GET", "/ready")
        XCTAssertEqual(ready.status, 503, "no model: not ready, and the connection still works")
    }

    func testHTTPSStreamsACompletionAsServerSentEvents() throws {
        let server = try startHTTPS(engine: TestServers.scriptedEngine(interval: 0.005))
        let client = try TestHTTPClient(port: server.port, trusting: Self.certificate)
        let response = try client.request("POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 40, "stream": true}"#)
        XCTAssertEqual(response.status, 200)
        let events = response.events
        XCTAssertEqual(events.last, "[DONE]")
        XCTAssertTrue(response.text.contains("w39 "), response.text)
        // Keep-alive after a chunked stream.
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
    }

    func testPipelinedRequestsAndALargeBodyArriveWhole() throws {
        let server = try startHTTPS(engine: TestServers.scriptedEngine(interval: 0.001))
        let client = try TestHTTPClient(port: server.port, trusting: Self.certificate)
        // Two requests in one write (so in one TLS record): both are answered, in order.
        client.send(TestHTTPClient.format("GET", "/health") + TestHTTPClient.format("GET", "/v1/models"))
        XCTAssertEqual(try client.readResponse().status, 200)
        let models = try client.readResponse()
        XCTAssertEqual(models.status, 200)
        XCTAssertEqual(((try models.json()["data"] as? [[String: Any]])?.first)?["id"] as? String, "scripted")
        // ~600 KB spans dozens of TLS records; the server reads all of it before it answers.
        let prompt = String(repeating: "abcdefghij", count: 60_000)
        let big = try client.request("POST", "/v1/completions", body: #"{"prompt": "\#(prompt)", "max_tokens": 2}"#)
        XCTAssertEqual(big.status, 400, big.text)
        XCTAssertTrue(big.text.contains("context"), big.text)
    }

    func testPlainHTTPOnTheHTTPSPortGetsAPlainAnswerThatSaysSo() throws {
        let lines = LogLines()
        let server = try startHTTPS(lines: lines)
        let plain = try TestHTTPClient.request(port: server.port, "GET", "/health")
        XCTAssertEqual(plain.status, 400)
        XCTAssertTrue(plain.text.contains("https://"), plain.text)
        XCTAssertTrue(eventually(timeout: 2) { lines.all.contains { $0.contains("plain HTTP sent to the HTTPS port") } }, "\(lines.all)")
        // The server goes on serving HTTPS.
        XCTAssertEqual(try TestHTTPClient(port: server.port, trusting: Self.certificate).request("GET", "/health").status, 200)
    }

    func testGarbageInsteadOfAHandshakeIsClosed() throws {
        let server = try startHTTPS()
        let client = try TestHTTPClient(port: server.port, receiveTimeout: 5)
        client.send([0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00])
        XCTAssertNotNil(client.readUntilClosed(), "a broken handshake is closed at once, not left to time out")
        let binary = try TestHTTPClient(port: server.port, receiveTimeout: 5)
        binary.send([0x00, 0x01, 0x02])
        XCTAssertNotNil(binary.readUntilClosed())
        XCTAssertEqual(try TestHTTPClient(port: server.port, trusting: Self.certificate).request("GET", "/health").status, 200)
    }

    func testAClientThatNeverHandshakesIsCutOffAtTheHeaderTimeout() throws {
        let server = try startHTTPS { $0.limits.headerTimeout = 0.5 }
        let silent = try TestHTTPClient(port: server.port, receiveTimeout: 5)
        let started = Date()
        XCTAssertNotNil(silent.readUntilClosed())
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(elapsed, 0.3)
        XCTAssertLessThan(elapsed, 3)
        // Half a handshake (the first byte of a record) is held to the same deadline.
        let stalled = try TestHTTPClient(port: server.port, receiveTimeout: 5)
        stalled.send([0x16])
        XCTAssertNotNil(stalled.readUntilClosed())
    }

    func testTheCertificateIsCheckedAtStart() throws {
        func start(cert: String?, key: String?) -> String? {
            let server = Memory3Server(configuration: TestServers.configuration { c in
                c.tlsCertificate = cert
                c.tlsKey = key
            }, log: RequestLog(enabled: false))
            do {
                try server.start()
                server.shutdown(grace: 0)
                return nil
            } catch {
                return "\(error)"
            }
        }
        XCTAssertNil(start(cert: Self.certificate, key: Self.key))
        let mismatch = try XCTUnwrap(start(cert: Self.certificate, key: Self.otherKey))
        XCTAssertTrue(mismatch.contains("does not match"), mismatch)
        let missing = try XCTUnwrap(start(cert: "/nonexistent/cert.pem", key: Self.key))
        XCTAssertTrue(missing.contains("does not exist"), missing)
        let notPEM = try XCTUnwrap(start(cert: #filePath, key: Self.key))
        XCTAssertTrue(notPEM.contains("not a PEM certificate"), notPEM)
        let half = try XCTUnwrap(start(cert: Self.certificate, key: nil))
        XCTAssertTrue(half.contains("needs both"), half)
    }

    func testTLSSettingsComeFromTheEnvironment() throws {
        var c = ServerConfiguration()
        try c.applyEnvironment(["MEMORY3_TLS_CERT": Self.certificate, "MEMORY3_TLS_KEY": Self.key])
        XCTAssertTrue(c.servesTLS)
        XCTAssertNotNil(try c.makeTLSContext())
        try c.applyEnvironment(["MEMORY3_TLS_CERT": "", "MEMORY3_TLS_KEY": ""])
        XCTAssertFalse(c.servesTLS)
        XCTAssertNil(try c.makeTLSContext())
    }
}
