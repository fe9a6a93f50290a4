import Foundation
@testable import Memory3Server
import XCTest

/// GET /openapi.json describes exactly the routes the server has: a route missing from the
/// document, or one in it that is not served, fails here.
final class OpenAPITests: XCTestCase {
    func testTheDocumentListsExactlyTheServedRoutes() throws {
        let server = try TestServers.start(self, engine: nil) { $0.apiKeys = ["sekret"] }
        let r = try TestHTTPClient.request(port: server.port, "GET", "/openapi.json")
        XCTAssertEqual(r.status, 200, "served without a key")
        XCTAssertEqual(r.header("Content-Type"), "application/json")
        let document = try r.json()
        XCTAssertEqual(document["openapi"] as? String, "3.1.0")
        let paths = try XCTUnwrap(document["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, operations) in paths {
            for method in operations.keys { documented.insert("\(method.uppercased()) \(path)") }
        }
        let served = Set(server.routeTable.map { "\($0.method) \($0.pattern)" })
        XCTAssertEqual(served.subtracting(documented).sorted(), [], "served but not in /openapi.json")
        XCTAssertEqual(documented.subtracting(served).sorted(), [], "in /openapi.json but not served")

        // Every operation answers something and names its responses; every $ref resolves.
        let components = try XCTUnwrap(document["components"] as? [String: Any])
        for (path, operations) in paths {
            for (method, operation) in operations {
                let responses = (operation as? [String: Any])?["responses"] as? [String: Any]
                XCTAssertFalse(responses?.isEmpty ?? true, "\(method) \(path) has no responses")
            }
        }
        let text = r.text
        let refs = text.matches(of: /"\$ref": "#\/components\/(\w+)\/(\w+)"/).map { (String($0.1), String($0.2)) }
        XCTAssertFalse(refs.isEmpty)
        for (kind, name) in refs {
            XCTAssertNotNil((components[kind] as? [String: Any])?[name], "$ref to missing \(kind)/\(name)")
        }
    }
}
