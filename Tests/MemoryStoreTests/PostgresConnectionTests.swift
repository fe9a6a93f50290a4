import Foundation
import XCTest
@testable import MemoryStore

/// What only a PostgreSQL store has: the writer lock held across connections, and its recovery.
/// Runs in `PostgresStoreSuiteTests`' child (skipped in the SQLite run of the suites).
class PostgresConnectionTests: StoreBackendTestCase {
    func testAWriterThatWaitedTooLongFailsBusyAndTheConnectionStillWorks() throws {
        try XCTSkipIf(backend != .postgres, "PostgreSQL's writer lock")
        let directory = try TemporaryDirectory()
        let location = try storeLocation(directory, "kb")
        let store = try MemoryStore(path: location, busyTimeoutMilliseconds: 200)
        // Another replica holds the writer lock.
        let other = try PostgresDatabase(url: location, readOnly: false, lockTimeoutMilliseconds: 5000)
        defer { other.close() }
        try other.begin(.immediate)
        XCTAssertThrowsStoreError(try store.insertDocument(Fixture.document(sha256: "during", referenceCount: 2))) {
            if case .busy = $0 { return true } else { return false }
        }
        XCTAssertEqual(try store.documents().count, 0, "reads go on while another replica writes")
        try other.execute("ROLLBACK")
        _ = try store.insertDocument(Fixture.document(sha256: "after-busy", referenceCount: 2))
        XCTAssertEqual(try store.documents().map(\.sha256), ["after-busy"], "the connection that waited in vain still works")
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testReadsDoNotWaitBehindThisStoresOwnQueuedWrite() throws {
        try XCTSkipIf(backend != .postgres, "PostgreSQL's writer lock")
        let directory = try TemporaryDirectory()
        let location = try storeLocation(directory, "kb")
        // The write waits on the lock until the other connection lets go. (Were reads queued behind
        // it, the read below would wait out this timeout and the write would fail first.)
        let store = try MemoryStore(path: location, busyTimeoutMilliseconds: 60_000)
        _ = try store.insertDocument(Fixture.document(sha256: "first", referenceCount: 1))
        let other = try PostgresDatabase(url: location, readOnly: false, lockTimeoutMilliseconds: 5000)
        defer { other.close() }
        try other.begin(.immediate)
        let writeEnded = DispatchSemaphore(value: 0)
        let writer = Thread {
            _ = try? store.insertDocument(Fixture.document(sha256: "queued", referenceCount: 1))
            writeEnded.signal()
        }
        writer.start()
        // Until the server shows the store's write waiting for the writer lock.
        while try other.scalarInt("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") == 0 {
            usleep(1000)
        }
        XCTAssertEqual(try store.documents().map(\.sha256), ["first"])
        XCTAssertEqual(writeEnded.wait(timeout: .now()), .timedOut, "the read returned while this store's write still waited")
        try other.execute("ROLLBACK")
        writeEnded.wait()
        XCTAssertEqual(try store.documents().map(\.sha256), ["first", "queued"], "the write went through once the lock was free")
    }

    func testALostConnectionIsReopenedAtTheNextCall() throws {
        try XCTSkipIf(backend != .postgres, "a server connection")
        let directory = try TemporaryDirectory()
        let location = try storeLocation(directory, "kb")
        let store = try MemoryStore(path: location)
        _ = try store.insertDocument(Fixture.document(sha256: "before", referenceCount: 1))
        // The server drops every other connection to this database (as a restart would).
        let admin = try PostgresDatabase(url: location, readOnly: false, lockTimeoutMilliseconds: 5000)
        defer { admin.close() }
        try admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
        XCTAssertEqual(try store.documents().count, 1, "the read runs again on a new connection")
        _ = try store.insertDocument(Fixture.document(sha256: "after", referenceCount: 1))
        XCTAssertEqual(try store.counts().documents, 2)
    }
}

/// The PostgreSQL helpers that need no server.
final class PostgresTextTests: XCTestCase {
    func testParametersAreNumberedAsSQLiteNumbersThem() {
        XCTAssertEqual(PostgresStatement.numberedParameters("SELECT ?, ?, 'a?b' WHERE x = ?"), "SELECT $1, $2, 'a?b' WHERE x = $3")
        XCTAssertEqual(PostgresStatement.numberedParameters("WHERE a = ?2 AND b = ?1 AND c = ?"), "WHERE a = $2 AND b = $1 AND c = $3")
    }

    func testPasswordsAreRedacted() {
        XCTAssertEqual(PostgresURL.redacted("postgres://u:secret@h:5432/db?sslmode=require"), "postgres://u:***@h:5432/db?sslmode=require")
        XCTAssertEqual(PostgresURL.redacted("postgresql://h/db?user=u&password=secret&sslmode=require"),
                       "postgresql://h/db?user=u&password=***&sslmode=require")
        XCTAssertEqual(PostgresURL.redacted("postgres://h/db?application_name=a@b"), "postgres://h/db?application_name=a@b")
    }
}
