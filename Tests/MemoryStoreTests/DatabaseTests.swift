import CSQLite
import Foundation
import XCTest
@testable import MemoryStore

/// The thin SQLite wrapper: binds, reads, errors, transactions.
final class DatabaseTests: XCTestCase {
    private func openDatabase(_ directory: TemporaryDirectory) throws -> Database {
        try Database(path: directory.path("raw.sqlite"), options: [.readWrite, .create])
    }

    func testEveryBoundTypeReadsBackUnchanged() throws {
        let directory = try TemporaryDirectory()
        let database = try openDatabase(directory)
        try database.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)")
        let text = "naïve \u{0} emoji 🧠 and a NUL inside"
        let bytes: [UInt8] = [0, 1, 2, 255, 0]
        try database.withStatement("INSERT INTO t VALUES (?, ?, ?, ?, ?)") { statement in
            try statement.bind(Int64.min, at: 1)
            try statement.bind(-0.125, at: 2)
            try statement.bind(text, at: 3)
            try statement.bind(Data(bytes), at: 4)
            try statement.bindNull(at: 5)
            try statement.run()
        }
        try database.withStatement("SELECT i, r, s, b, n, typeof(b), length(s) FROM t") { statement in
            XCTAssertTrue(try statement.step())
            XCTAssertEqual(statement.int64(0), Int64.min)
            XCTAssertEqual(statement.double(1), -0.125)
            XCTAssertEqual(statement.string(2), text)
            XCTAssertEqual(statement.blob(3), bytes)
            XCTAssertTrue(statement.isNull(4))
            XCTAssertNil(statement.optionalString(4))
            XCTAssertEqual(statement.string(5), "blob")
            XCTAssertFalse(try statement.step())
        }
    }

    func testEmptyBlobAndEmptyTextAreNotNull() throws {
        let directory = try TemporaryDirectory()
        let database = try openDatabase(directory)
        try database.execute("CREATE TABLE t (s TEXT, b BLOB)")
        try database.run("INSERT INTO t VALUES (?, ?)", [.text(""), .blob([])])
        XCTAssertEqual(try database.scalarString("SELECT typeof(s) || ',' || typeof(b) FROM t"), "text,blob")
        try database.withStatement("SELECT s, b FROM t") { statement in
            XCTAssertTrue(try statement.step())
            XCTAssertEqual(statement.string(0), "")
            XCTAssertEqual(statement.blob(1), [])
        }
    }

    func testErrorsCarryPrimaryAndExtendedCodesAndMessage() throws {
        let directory = try TemporaryDirectory()
        let database = try openDatabase(directory)
        try database.execute("CREATE TABLE t (k TEXT UNIQUE)")
        try database.run("INSERT INTO t VALUES ('a')")
        do {
            try database.run("INSERT INTO t VALUES ('a')")
            XCTFail("a duplicate must fail")
        } catch let error as SQLiteError {
            XCTAssertEqual(error.code, SQLITE_CONSTRAINT)
            XCTAssertEqual(error.extendedCode, SQLiteError.constraintUnique)
            XCTAssertTrue(error.message.contains("UNIQUE constraint failed: t.k"), error.message)
            XCTAssertTrue(error.isConstraintViolation)
        }
        do {
            _ = try database.prepare("SELECT nonsense FROM nowhere")
            XCTFail("a bad statement must fail to prepare")
        } catch {
            XCTAssertEqual(error.code, SQLITE_ERROR)
            XCTAssertTrue(error.message.contains("no such table"), error.message)
            XCTAssertEqual(error.sql, "SELECT nonsense FROM nowhere")
        }
    }

    func testPrepareRefusesMoreThanOneStatement() throws {
        let directory = try TemporaryDirectory()
        let database = try openDatabase(directory)
        XCTAssertThrowsError(try database.prepare("SELECT 1; SELECT 2"))
        XCTAssertNoThrow(try database.prepare("SELECT 1;  "))
    }

    func testFinalizedStatementRefusesUse() throws {
        let directory = try TemporaryDirectory()
        let database = try openDatabase(directory)
        let statement = try database.prepare("SELECT 1")
        statement.finalize()
        XCTAssertNil(statement.handle)
        XCTAssertThrowsError(try statement.step())
    }

    func testTransactionCommitsOnReturnAndRollsBackOnThrow() throws {
        let directory = try TemporaryDirectory()
        let database = try openDatabase(directory)
        try database.execute("CREATE TABLE t (v INTEGER)")
        struct Abort: Error {}
        try database.transaction { try database.run("INSERT INTO t VALUES (1)") }
        XCTAssertThrowsError(try database.transaction {
            try database.run("INSERT INTO t VALUES (2)")
            throw Abort()
        })
        XCTAssertTrue(database.isAutocommit)
        XCTAssertEqual(try database.scalarInt("SELECT group_concat(v) FROM t") , 1)
    }

    func testNestedTransactionFailureUndoesOnlyTheInnerWork() throws {
        let directory = try TemporaryDirectory()
        let database = try openDatabase(directory)
        try database.execute("CREATE TABLE t (v INTEGER)")
        struct Abort: Error {}
        try database.transaction {
            try database.run("INSERT INTO t VALUES (1)")
            _ = try? database.transaction {
                try database.run("INSERT INTO t VALUES (2)")
                throw Abort()
            }
            try database.run("INSERT INTO t VALUES (3)")
        }
        XCTAssertEqual(try database.strings("SELECT v FROM t ORDER BY v"), ["1", "3"])
    }

    func testOpeningAMissingFileReadOnlyFailsWithCantOpen() throws {
        let directory = try TemporaryDirectory()
        XCTAssertThrowsError(try Database(path: directory.path("missing.sqlite"), options: [.readOnly])) { error in
            XCTAssertEqual((error as? SQLiteError)?.code, SQLITE_CANTOPEN)
        }
    }
}
