import Foundation
import XCTest

/// Runs store suites of this test binary again in a child process with `environment` changes (the
/// store's backend or search path: XCTest on Linux does not run inherited test methods, so a
/// subclass per variant would run nothing), and fails with the child's failures. Returns its output.
enum StoreSuiteChild {
    @discardableResult
    static func run(_ suites: [String], setting environmentChanges: [String: String?], label: String,
                    file: StaticString = #filePath, line: UInt = #line) throws -> String {
        #if os(Linux)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #else
        throw XCTSkip("spawning the test runner is implemented for Linux only")
        #endif
        let child = Process()
        child.executableURL = URL(fileURLWithPath: executable)
        child.arguments = [suites.map { "MemoryStoreTests.\($0)" }.joined(separator: ",")]
        var environment = ProcessInfo.processInfo.environment
        for (key, value) in environmentChanges { environment[key] = value }
        child.environment = environment
        let pipe = Pipe()
        child.standardOutput = pipe
        child.standardError = pipe
        try child.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        child.waitUntilExit()
        // The child stops a PostgreSQL server it started at exit; a child that crashed leaves it running.
        TemporaryPostgres.stopServer(ofProcess: child.processIdentifier)
        let failures = output.split(separator: "\n").filter { $0.contains("error:") || $0.contains("failed") }
        XCTAssertEqual(child.terminationStatus, 0, "the store suites failed \(label):\n\(failures.joined(separator: "\n"))\n\(output.suffix(3000))",
                       file: file, line: line)
        // Every suite ran, and ran tests (a filter that matched nothing would also exit 0).
        for suite in suites {
            XCTAssertTrue(output.contains("Test Suite '\(suite)' passed"), "\(suite) did not run \(label):\n\(output.suffix(2000))", file: file, line: line)
        }
        let executed = output.split(separator: "\n").last { $0.contains("Executed") && $0.contains("tests") }
        print("store suites \(label): \(executed.map(String.init) ?? "?")")
        return output
    }
}
