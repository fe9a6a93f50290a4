import Foundation
import XCTest
@testable import MemoryStore

/// The store's suites (documents, ingestions, search, embeddings) run again on PostgreSQL: this
/// test binary, run as a child with `MEMORY3_TEST_STORE=postgres` and a filter for those suites.
final class PostgresStoreSuiteTests: XCTestCase {
    static let suites = ["DocumentTests", "IngestionStoreTests", "SearchTests", "EmbeddingStoreTests", "PostgresConnectionTests"]

    func testTheStoreSuitesPassOnPostgreSQL() throws {
        #if os(Linux)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #else
        throw XCTSkip("spawning the test runner is implemented for Linux only")
        #endif
        // Started here, so that a missing PostgreSQL fails (or skips) with its own message; the
        // child reuses nothing of it (it starts its own server).
        _ = try TemporaryPostgres.server()
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = [Self.suites.map { "MemoryStoreTests.\($0)" }.joined(separator: ",")]
        var environment = ProcessInfo.processInfo.environment
        environment[StoreBackendTestCase.backendVariable] = "postgres"
        child.environment = environment
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = pipe
        try child.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        // The child stops its server at exit; a child that crashed leaves it running: stop it here.
        TemporaryPostgres.stopServer(ofProcess: child.processIdentifier)
        let failures = output.split(separator: "\n").filter { $0.contains("error:") || $0.contains("failed") }
        XCTAssertEqual(child.terminationStatus, 0, "the store suites failed on PostgreSQL:\n\(failures.joined(separator: "\n"))\n\(output.suffix(3000))")
        // Every suite ran, and ran tests (a filter that matched nothing would also exit 0).
        for suite in Self.suites {
            XCTAssertTrue(output.contains("Test Suite '\(suite)' passed"), "\(suite) did not run on PostgreSQL:\n\(output.suffix(2000))")
        }
        let executed = output.split(separator: "\n").last { $0.contains("Executed") && $0.contains("tests") }
        print("store suites on PostgreSQL: \(executed.map(String.init) ?? "?")")
    }
}
