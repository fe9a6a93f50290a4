import Foundation
@testable import Memory3Server
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Graceful shutdown: stop accepting, let streams finish up to the deadline, then cancel.
final class ShutdownTests: XCTestCase {
    func testShutdownLetsAStreamFinishAndStopsAccepting() throws {
        let server = Memory3Server(configuration: TestServers.configuration(), engine: TestServers.scriptedEngine(interval: 0.05),
                                   log: RequestLog(enabled: false))
        try server.start()
        let port = server.port
        let client = try TestHTTPClient(port: port)
        client.send(TestHTTPClient.format("POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 20, "stream": true}"#))
        _ = try client.readUntil("w1 ")
        let done = DispatchSemaphore(value: 0)
        let started = Date()
        Thread { server.shutdown(grace: 5); done.signal() }.start()
        usleep(200_000)
        XCTAssertThrowsError(try TestHTTPClient(port: port), "the listener should be closed")
        // The stream in flight runs to its end.
        let text = try client.readUntil("[DONE]")
        XCTAssertTrue(text.contains("w19 "))
        XCTAssertEqual(done.wait(timeout: .now() + 5), .success)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    func testShutdownCancelsWhatOutlivesTheGracePeriod() throws {
        let probe = GenerationProbe()
        let server = Memory3Server(configuration: TestServers.configuration(), engine: TestServers.scriptedEngine(interval: 0.05, probe: probe),
                                   log: RequestLog(enabled: false))
        try server.start()
        let client = try TestHTTPClient(port: server.port)
        client.send(TestHTTPClient.format("POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 200, "stream": true}"#))
        _ = try client.readUntil("w1 ")
        let started = Date()
        server.shutdown(grace: 0.5)
        let elapsed = Date().timeIntervalSince(started)
        XCTAssertGreaterThan(elapsed, 0.4)
        XCTAssertLessThan(elapsed, 3)
        XCTAssertEqual(probe.cancelled.load(ordering: .relaxed), 1)
    }

    func testIdleKeepAliveConnectionsAreClosedOnShutdown() throws {
        let server = Memory3Server(configuration: TestServers.configuration(), engine: nil, log: RequestLog(enabled: false))
        try server.start()
        let client = try TestHTTPClient(port: server.port)
        XCTAssertEqual(try client.request("GET", "/health").status, 200)
        server.shutdown(grace: 1)
        XCTAssertEqual(client.readUntilClosed(), [])
    }
}

/// `memory3 serve` as an operator runs it.
final class ServeCommandTests: XCTestCase {
    func memory3() throws -> URL {
        let folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [folder, folder.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("memory3")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        throw XCTSkip("the memory3 executable was not found beside the tests in \(folder.path)")
    }

    func testServeAnswersAndExitsZeroOnSIGTERM() throws {
        let model = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: model) else { throw XCTSkip("run `make model` to fetch the model") }
        let process = Process()
        process.executableURL = try memory3()
        let port = try unusedPort()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-\(UUID().uuidString).json")
        try Data(#"{"server": {"port": \#(port), "shutdown_grace_s": 5}, "memory": {"db": null}, "auth": {"api_keys": ["t0ken"]}}"#.utf8).write(to: config)
        defer { try? FileManager.default.removeItem(at: config) }
        process.arguments = ["serve", "--config", config.path, "--model", model, "--threads", "1"]
        var environment = ProcessInfo.processInfo.environment
        environment["MEMORY3_API_KEYS"] = "second-key"
        process.environment = environment
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        defer { if process.isRunning { process.terminate() } }

        guard eventually(timeout: 20, { ((try? TestHTTPClient.request(port: port, "GET", "/ready"))?.status) == 200 }) else {
            process.terminate()
            process.waitUntilExit()
            XCTFail("never ready on port \(port); its log: \(String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self))")
            return
        }
        XCTAssertEqual(try TestHTTPClient.request(port: port, "GET", "/v1/models").status, 401)
        let models = try TestHTTPClient.request(port: port, "GET", "/v1/models", headers: [("Authorization", "Bearer second-key")])
        XCTAssertEqual(((try models.json()["data"] as? [[String: Any]])?.first)?["id"] as? String, "SmolLM2-135M-Instruct.Q4_1")

        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(log.contains("GET /ready 200"), log)
        XCTAssertTrue(log.contains("SIGTERM, shutting down"), log)
    }

    func testServeExitsWithTheReasonWhenTheModelCannotLoad() throws {
        let process = Process()
        process.executableURL = try memory3()
        process.arguments = ["serve", "--port", "0", "--db", "", "--model", "/nonexistent/model.gguf"]
        process.currentDirectoryURL = FileManager.default.temporaryDirectory
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        if exited.wait(timeout: .now() + 20) == .timedOut {
            process.terminate()
            XCTFail("serve kept running without its model")
        }
        XCTAssertEqual(process.terminationStatus, 1)
        let log = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertTrue(log.contains("model file '/nonexistent/model.gguf' does not exist"), log)
    }
}

/// A port below Linux's ephemeral range (32768-60999) that nothing listens on now. A random port in
/// 20000-40000 once failed `.ci/run` ("never ready": the server could not bind, the reason unseen);
/// half of that range is where the tests' own client connections take their local ports.
func unusedPort() throws -> Int {
    for _ in 0 ..< 100 {
        let port = Int.random(in: 20_000 ... 32_000)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { continue }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = in_addr_t(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if bound == 0 { return port }
    }
    throw NoFreePort()
}

struct NoFreePort: Error {}
