import Foundation
@testable import Memory3Server
import XCTest

/// GET / serves the playground without a key (the page asks for one), as HTML that loads
/// nothing from elsewhere, and it calls only routes the server has.
final class PlaygroundPageTests: XCTestCase {
    func testThePageIsServedWithoutAKeyAndIsSelfContained() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0)) { $0.apiKeys = ["secret"] }
        let r = try TestHTTPClient.request(port: server.port, "GET", "/")
        XCTAssertEqual(r.status, 200)
        XCTAssertTrue(r.header("Content-Type")?.hasPrefix("text/html") == true)
        XCTAssertTrue(r.header("Content-Security-Policy")?.contains("connect-src 'self'") == true)
        XCTAssertTrue(r.text.contains("<title>memory3 playground</title>"))
        XCTAssertFalse(r.text.contains("http://") || r.text.contains("https://") || r.text.contains("<script src"), "no CDN, nothing from elsewhere")
        // Everything else still needs the key.
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "GET", "/v1/models").status, 401)
        // The routes the page calls exist.
        for path in ["/v1/models", "/v1/chat/completions", "/v1/documents"] {
            XCTAssertTrue(r.text.contains("\"\(path)"), path)
        }
    }
}
