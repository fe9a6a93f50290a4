import Foundation
import XCTest
@testable import MemoryStore

/// The SQLite store suites again with every search through FTS5: since 2026-12-05 SQLite stores of
/// any size search through `LexicalIndex`, and FTS5 answers only while the index builds or for
/// queries it cannot take, so the suites alone would no longer check FTS5's filtering of staged,
/// deleted and other-profile references. This test binary, run as a child with
/// `MEMORY3_TEST_SEARCH=fts5` and a filter for those suites (as `PostgresStoreSuiteTests` does).
final class FTS5StoreSuiteTests: XCTestCase {
    static let suites = ["DocumentTests", "IngestionStoreTests", "SearchTests", "EmbeddingStoreTests"]

    func testTheStoreSuitesPassWithFTS5Search() throws {
        #if os(Linux)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #else
        throw XCTSkip("spawning the test runner is implemented for Linux only")
        #endif
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = [Self.suites.map { "MemoryStoreTests.\($0)" }.joined(separator: ",")]
        var environment = ProcessInfo.processInfo.environment
        environment[StoreBackendTestCase.searchVariable] = "fts5"
        environment[StoreBackendTestCase.backendVariable] = nil
        child.environment = environment
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = pipe
        try child.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        let failures = output.split(separator: "\n").filter { $0.contains("error:") || $0.contains("failed") }
        XCTAssertEqual(child.terminationStatus, 0, "the store suites failed with FTS5 search:\n\(failures.joined(separator: "\n"))\n\(output.suffix(3000))")
        for suite in Self.suites {
            XCTAssertTrue(output.contains("Test Suite '\(suite)' passed"), "\(suite) did not run with FTS5 search:\n\(output.suffix(2000))")
        }
        let executed = output.split(separator: "\n").last { $0.contains("Executed") && $0.contains("tests") }
        print("store suites with FTS5 search: \(executed.map(String.init) ?? "?")")
    }
}
