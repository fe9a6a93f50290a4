import Foundation
import XCTest
@testable import MemoryStore

/// The databases a store runs on; the store suites run once per backend (see `StoreBackendTestCase`).
enum StoreBackend {
    case sqlite
    case postgres
}

/// A test case whose stores live on `backend`: SQLite files, or, when the environment says
/// `MEMORY3_TEST_STORE=postgres`, databases on a PostgreSQL server that the test process starts
/// (`TemporaryPostgres`). `PostgresStoreSuiteTests` runs these suites that way in a child process
/// (XCTest on Linux does not run inherited test methods, so a subclass per backend would run nothing).
class StoreBackendTestCase: XCTestCase {
    static let backendVariable = "MEMORY3_TEST_STORE"
    var backend: StoreBackend {
        ProcessInfo.processInfo.environment[Self.backendVariable] == "postgres" ? .postgres : .sqlite
    }
    /// Store locations handed out by this test, by name: opening a name again reopens that store.
    private var locations: [String: String] = [:]

    /// Where the store `name` of this test lives: a file in `directory`, or a new PostgreSQL database.
    func storeLocation(_ directory: TemporaryDirectory, _ name: String) throws -> String {
        let key = directory.path(name)
        if let known = locations[key] { return known }
        let location: String
        switch backend {
        case .sqlite: location = key
        case .postgres: location = try TemporaryPostgres.server().newDatabase()
        }
        locations[key] = location
        return location
    }

    /// With `MEMORY3_TEST_SEARCH=fts5`, SQLite stores search through FTS5 (the path taken while the
    /// in-memory index builds and for queries it cannot answer) instead of `LexicalIndex`.
    static let searchVariable = "MEMORY3_TEST_SEARCH"

    /// Opens (creating) the store `name` of this test.
    func openStore(_ directory: TemporaryDirectory, _ name: String, readOnly: Bool = false) throws -> MemoryStore {
        let store = try MemoryStore(path: try storeLocation(directory, name), readOnly: readOnly)
        if ProcessInfo.processInfo.environment[Self.searchVariable] == "fts5" { store.indexedSearchAbove = .max }
        return store
    }
}

/// One PostgreSQL server per test process, started on first use by `scripts/postgres-temp.sh` in a
/// temporary directory on a free loopback port, stopped when the process exits; each store gets a
/// database of its own. Without PostgreSQL the PostgreSQL suites fail, unless
/// `MEMORY3_SKIP_POSTGRES=1` says to skip them.
final class TemporaryPostgres: @unchecked Sendable {
    let directory: String
    let url: String
    private let lock = NSLock()
    private var databases = 0

    nonisolated(unsafe) private static var started: Result<TemporaryPostgres, any Error>?
    private static let startLock = NSLock()

    static func server() throws -> TemporaryPostgres {
        if ProcessInfo.processInfo.environment["MEMORY3_SKIP_POSTGRES"] == "1" {
            throw XCTSkip("MEMORY3_SKIP_POSTGRES=1: the PostgreSQL store suites are skipped")
        }
        return try startLock.withLock {
            if started == nil { started = Result { try TemporaryPostgres() } }
            return try started!.get()
        }
    }

    private init() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/postgres-temp.sh").path
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-pg-\(getpid())").path
        var lastFailure = ""
        for _ in 0 ..< 5 {
            let port = Int.random(in: 20_000 ..< 60_000)
            let (status, output) = try Self.run(script, ["start", directory, String(port)])
            if status == 0, let line = output.split(separator: "\n").last, line.hasPrefix("postgres://") {
                url = String(line)
                Self.stopDirectory = directory
                Self.stopScript = script
                atexit { TemporaryPostgres.stopAtExit() }
                return
            }
            lastFailure = output
        }
        throw NSError(domain: "TemporaryPostgres", code: 1,
                      userInfo: [NSLocalizedDescriptionKey: "cannot start PostgreSQL (scripts/postgres-temp.sh): \(lastFailure)"])
    }

    /// A new, empty database on the server; its URL.
    func newDatabase() throws -> String {
        let name = lock.withLock {
            databases += 1
            return "store_\(databases)"
        }
        return try PostgresServer.createDatabase(name, on: url)
    }

    nonisolated(unsafe) private static var stopDirectory: String?
    nonisolated(unsafe) private static var stopScript: String?

    /// Stops the server a test process `pid` started (its directory is named by its pid), if running.
    static func stopServer(ofProcess pid: Int32) {
        guard let script = stopScript else { return }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-pg-\(pid)").path
        guard FileManager.default.fileExists(atPath: directory) else { return }
        _ = try? run(script, ["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    private static func stopAtExit() {
        guard let directory = stopDirectory, let script = stopScript else { return }
        _ = try? run(script, ["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Runs the script through `system` (which waits with waitpid): Foundation's `Process` missed
    /// this child's exit in the test runner and waited forever.
    private static func run(_ executable: String, _ arguments: [String]) throws -> (Int32, String) {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-pg-\(getpid())-\(UUID().uuidString).log").path
        defer { try? FileManager.default.removeItem(atPath: output) }
        let command = ([executable] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }.joined(separator: " ")
        let status = system(command + " >'\(output)' 2>&1 </dev/null")
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        return (status == 0 ? 0 : max(1, status), text)
    }
}
