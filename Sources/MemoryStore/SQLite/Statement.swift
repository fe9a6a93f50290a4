import CSQLite
import Foundation

/// A value bound to a statement parameter.
enum SQLiteValue: Sendable, Equatable {
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
    case null
}

/// `SQLITE_TRANSIENT`: SQLite copies the bound bytes before the bind call returns.
private let transientDestructor = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

/// A prepared statement. Finalized when `finalize()` is called or, at the latest, when the last
/// reference goes away; `Database.withStatement` finalizes on scope exit. Not thread-safe: used only
/// under the owning store's lock.
final class Statement: SQLStatement {
    private(set) var handle: OpaquePointer?
    private let connection: OpaquePointer
    let sql: String

    init(connection: OpaquePointer, sql: String) throws(SQLiteError) {
        self.connection = connection
        self.sql = sql
        var statement: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let rc = sql.withCString { sqlite3_prepare_v2(connection, $0, -1, &statement, &tail) }
        guard rc == SQLITE_OK else {
            sqlite3_finalize(statement)
            throw SQLiteError(connection: connection, resultCode: rc, sql: sql)
        }
        guard let statement else {
            // Empty SQL (only whitespace or comments) prepares to no statement at all.
            throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "empty SQL statement", sql: sql)
        }
        if let tail, tail.pointee != 0,
           !String(cString: tail).allSatisfy({ $0.isWhitespace || $0 == ";" }) {
            sqlite3_finalize(statement)
            throw SQLiteError(
                code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE,
                message: "a prepared statement holds exactly one SQL statement; use Database.execute for scripts",
                sql: sql
            )
        }
        handle = statement
    }

    deinit { sqlite3_finalize(handle) }

    /// Releases the statement now. Later use fails with `SQLITE_MISUSE`.
    func finalize() {
        sqlite3_finalize(handle)
        handle = nil
    }

    private func live() throws(SQLiteError) -> OpaquePointer {
        guard let handle else {
            throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "statement already finalized", sql: sql)
        }
        return handle
    }

    private func check(_ rc: Int32) throws(SQLiteError) {
        guard rc == SQLITE_OK else { throw SQLiteError(connection: connection, resultCode: rc, sql: sql) }
    }

    // MARK: Binding (parameter indexes start at 1, as in SQLite)

    func bind(_ value: Int64, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_int64(try live(), index, value))
    }

    func bind(_ value: Int, at index: Int32) throws(SQLiteError) {
        try bind(Int64(value), at: index)
    }

    func bind(_ value: Double, at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_double(try live(), index, value))
    }

    func bind(_ value: String, at index: Int32) throws(SQLiteError) {
        let handle = try live()
        // Explicit length: a Swift string may hold NUL characters, which a C string would cut off.
        var utf8 = Array(value.utf8)
        if utf8.isEmpty { utf8 = [0] } // a non-null pointer for the empty string; length 0 below
        let count = Int32(value.utf8.count)
        let rc = utf8.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                sqlite3_bind_text(handle, index, $0, count, transientDestructor)
            }
        }
        try check(rc)
    }

    func bind(_ value: [UInt8], at index: Int32) throws(SQLiteError) {
        let handle = try live()
        // An empty array may have no base address, and a NULL pointer would bind SQL NULL.
        guard !value.isEmpty else {
            try check(sqlite3_bind_zeroblob(handle, index, 0))
            return
        }
        guard value.count <= Int(Int32.max) else {
            throw SQLiteError(code: SQLITE_TOOBIG, extendedCode: SQLITE_TOOBIG, message: "blob of \(value.count) bytes is too big", sql: sql)
        }
        let rc = value.withUnsafeBytes {
            sqlite3_bind_blob(handle, index, $0.baseAddress, Int32($0.count), transientDestructor)
        }
        try check(rc)
    }

    func bind(_ value: Data, at index: Int32) throws(SQLiteError) {
        try bind([UInt8](value), at: index)
    }

    func bindNull(at index: Int32) throws(SQLiteError) {
        try check(sqlite3_bind_null(try live(), index))
    }

    func bind(_ value: SQLiteValue, at index: Int32) throws(SQLiteError) {
        switch value {
        case .integer(let v): try bind(v, at: index)
        case .real(let v): try bind(v, at: index)
        case .text(let v): try bind(v, at: index)
        case .blob(let v): try bind(v, at: index)
        case .null: try bindNull(at: index)
        }
    }

    // MARK: Stepping

    /// Advances to the next row: `true` when a row is available, `false` when the statement is done.
    @discardableResult
    func step() throws(SQLiteError) -> Bool {
        let rc = sqlite3_step(try live())
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw SQLiteError(connection: connection, resultCode: rc, sql: sql)
        }
    }

    /// Makes the statement ready to run again, keeping its bindings unless `clearBindings`.
    func reset(clearBindings: Bool = true) {
        guard let handle else { return }
        sqlite3_reset(handle)
        if clearBindings { sqlite3_clear_bindings(handle) }
    }

    // MARK: Columns of the current row (indexes start at 0, as in SQLite)

    func isNull(_ column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    func int64(_ column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    func double(_ column: Int32) -> Double {
        sqlite3_column_double(handle, column)
    }

    func string(_ column: Int32) -> String {
        guard let text = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: text, count: count), as: UTF8.self)
    }

    func blob(_ column: Int32) -> [UInt8] {
        // Ask for the pointer first, then the size (the order SQLite documents for conversions).
        guard let bytes = sqlite3_column_blob(handle, column) else { return [] }
        let count = Int(sqlite3_column_bytes(handle, column))
        return [UInt8](UnsafeRawBufferPointer(start: bytes, count: count))
    }

    var columnCount: Int32 { sqlite3_column_count(handle) }
}
