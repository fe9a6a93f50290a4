import Foundation
@testable import Memory3Server
import MemoryStore
import XCTest

final class ServerConfigurationTests: XCTestCase {
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func testShippedConfigFileHoldsTheDefaults() throws {
        let path = Self.repositoryRoot.appendingPathComponent("config/memory3.json").path
        XCTAssertEqual(try ServerConfiguration.load(path: path), ServerConfiguration())
    }

    func testEverySettingIsDocumented() throws {
        let readme = try String(contentsOf: Self.repositoryRoot.appendingPathComponent("config/README.md"), encoding: .utf8)
        for (section, keys) in ServerConfiguration.sections {
            XCTAssertTrue(readme.contains("## `\(section)`"), section)
            for key in keys { XCTAssertTrue(readme.contains("| `\(key)` |"), "\(section).\(key) is not documented") }
        }
    }

    func testFileValuesApply() throws {
        let c = try ServerConfiguration.load(json: Array(#"""
            {"server": {"host": "0.0.0.0", "port": 9000}, "limits": {"header_timeout_s": 1.5, "max_connections": 10},
             "generation": {"queue_capacity": 0}, "memory": {"db": null, "default_mode": "text"}, "auth": {"api_keys": ["a", "b"]}}
            """#.utf8))
        XCTAssertEqual(c.host, "0.0.0.0")
        XCTAssertEqual(c.port, 9000)
        XCTAssertEqual(c.limits.headerTimeout, 1.5)
        XCTAssertEqual(c.limits.maxConnections, 10)
        XCTAssertEqual(c.queueCapacity, 0)
        XCTAssertNil(c.databasePath)
        XCTAssertEqual(c.defaultMemoryMode, .text)
        XCTAssertEqual(c.apiKeys, ["a", "b"])
    }

    func testStoreSettingAndItsOlderName() throws {
        let url = "postgres://memory3:secret@db:5432/memory3"
        XCTAssertEqual(try ServerConfiguration.load(json: Array(#"{"memory": {"store": "\#(url)"}}"#.utf8)).databasePath, url)
        XCTAssertEqual(try ServerConfiguration.load(json: Array(#"{"memory": {"db": "/data/kb.sqlite"}}"#.utf8)).databasePath, "/data/kb.sqlite")
        XCTAssertNil(try ServerConfiguration.load(json: Array(#"{"memory": {"store": null}}"#.utf8)).databasePath)
        XCTAssertThrowsError(try ServerConfiguration.load(json: Array(#"{"memory": {"store": "a", "db": "b"}}"#.utf8)))
        let rescan = try ServerConfiguration.load(json: Array(#"{"memory": {"rescan_s": 1.5}}"#.utf8))
        XCTAssertEqual(rescan.ingestionRescanSeconds, 1.5)
        XCTAssertNil(ServerConfiguration().ingestionRescanSeconds)
        var environment = ServerConfiguration()
        try environment.applyEnvironment(["MEMORY3_STORE": url, "MEMORY3_DB": "ignored.sqlite"])
        XCTAssertEqual(environment.databasePath, url)
        try environment.applyEnvironment(["MEMORY3_DB": "old.sqlite"])
        XCTAssertEqual(environment.databasePath, "old.sqlite")
        XCTAssertEqual(PostgresURL.redacted(url), "postgres://memory3:***@db:5432/memory3")
        XCTAssertEqual(PostgresURL.redacted("postgres://db/memory3"), "postgres://db/memory3")
        XCTAssertEqual(PostgresServer.databaseURL("postgres://u@h:1/postgres?sslmode=disable", name: "kb"), "postgres://u@h:1/kb?sslmode=disable")
    }

    func testRetrieverAndEncoderSettings() throws {
        XCTAssertNil(ServerConfiguration().memoryRetriever, "unset: hybrid when the encoder is there, else bm25")
        let c = try ServerConfiguration.load(json: Array(#"{"memory": {"retriever": "dense", "encoder": "/m/enc"}}"#.utf8))
        XCTAssertEqual(c.memoryRetriever, .dense)
        XCTAssertEqual(c.encoderPath, "/m/enc")
        XCTAssertNil(try ServerConfiguration.load(json: Array(#"{"memory": {"encoder": null}}"#.utf8)).encoderPath)
        XCTAssertThrowsError(try ServerConfiguration.load(json: Array(#"{"memory": {"retriever": "vector"}}"#.utf8)))
        XCTAssertEqual(ServerConfiguration().encoderPrecision, .bfloat16)
        XCTAssertEqual(try ServerConfiguration.load(json: Array(#"{"memory": {"encoder_precision": "float32"}}"#.utf8)).encoderPrecision, .float32)
        XCTAssertThrowsError(try ServerConfiguration.load(json: Array(#"{"memory": {"encoder_precision": "int8"}}"#.utf8)))
    }

    func testMemoryProfileAndCodecSettings() throws {
        XCTAssertNil(ServerConfiguration().memoryCodec, "unset: the profile's own, else the model's")
        let c = try ServerConfiguration.load(json: Array(#"{"memory": {"profile": "compact", "codec": "int3"}}"#.utf8))
        XCTAssertEqual(c.memoryProfile, "compact")
        XCTAssertEqual(c.memoryCodec, "int3")
        XCTAssertThrowsError(try ServerConfiguration.load(json: Array(#"{"memory": {"codec": "int5"}}"#.utf8))) {
            XCTAssertTrue("\($0)".contains("'memory.codec' must be"), "\($0)")
        }
    }

    func testMistakesAreRefusedWithTheirPlace() {
        let cases: [(String, String)] = [
            (#"{"server": {"prot": 1}}"#, "unknown setting 'server.prot'"),
            (#"{"srever": {}}"#, "unknown section 'srever'"),
            (#"{"server": {"port": "80"}}"#, "'server.port' must be an integer"),
            (#"{"server": {"port": 70000}}"#, "'server.port' must be between 0 and 65535"),
            (#"{"memory": {"default_mode": "always"}}"#, "'memory.default_mode' must be explicit, text or off"),
            (#"{"auth": {"api_keys": [""]}}"#, "'auth.api_keys' must be an array of non-empty strings"),
            ("{", "not valid JSON"),
        ]
        for (json, message) in cases {
            XCTAssertThrowsError(try ServerConfiguration.load(json: Array(json.utf8), file: "test.json")) { error in
                let text = "\(error)"
                XCTAssertTrue(text.hasPrefix("test.json: "), text)
                XCTAssertTrue(text.contains(message), "\(json): \(text)")
            }
        }
    }

    func testEnvironmentOverridesTheFile() throws {
        var c = ServerConfiguration()
        try c.applyEnvironment(["MEMORY3_PORT": "9999", "MEMORY3_HOST": "::1", "MEMORY3_API_KEYS": "x, y,", "MEMORY3_DB": ""])
        XCTAssertEqual(c.port, 9999)
        XCTAssertEqual(c.host, "::1")
        XCTAssertEqual(c.apiKeys, ["x", "y"])
        XCTAssertNil(c.databasePath)
        XCTAssertThrowsError(try c.applyEnvironment(["MEMORY3_PORT": "http"]))
    }

    func testModelIDDefaultsToTheFileName() {
        var c = ServerConfiguration()
        XCTAssertEqual(c.effectiveModelID, "SmolLM2-135M-Instruct.Q4_1")
        c.modelID = "smol"
        XCTAssertEqual(c.effectiveModelID, "smol")
    }
}
