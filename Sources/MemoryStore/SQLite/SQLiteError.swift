import CSQLite

/// A failure reported by SQLite: the primary result code, the extended result code (which says
/// which constraint, which I/O step, ...) and the connection's message at the time of the failure.
public struct SQLiteError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Primary result code, e.g. `SQLITE_CONSTRAINT` (19).
    public let code: Int32
    /// Extended result code, e.g. `SQLITE_CONSTRAINT_UNIQUE` (2067).
    public let extendedCode: Int32
    /// `sqlite3_errmsg` of the connection, or `sqlite3_errstr` when there was no connection.
    public let message: String
    /// The SQL being prepared or run, when there was one (for diagnostics only).
    public let sql: String?
    /// PostgreSQL's SQLSTATE when the failure came from a PostgreSQL store (its code mapped onto
    /// SQLite's by `PostgresErrorCodes`); nil for SQLite.
    public let sqlState: String?

    init(code: Int32, extendedCode: Int32, message: String, sql: String? = nil, sqlState: String? = nil) {
        self.code = code
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
        self.sqlState = sqlState
    }

    /// Reads the code, extended code and message from a connection right after a failed call.
    init(connection: OpaquePointer?, resultCode: Int32, sql: String? = nil) {
        let extended = connection.map { sqlite3_extended_errcode($0) } ?? resultCode
        let message: String
        if let connection, let text = sqlite3_errmsg(connection) {
            message = String(cString: text)
        } else {
            message = String(cString: sqlite3_errstr(resultCode))
        }
        // The extended code of the connection can be stale when the failure did not come from the
        // connection (e.g. a misuse code); keep it only when its primary part agrees.
        self.init(
            code: resultCode & 0xff,
            extendedCode: (extended & 0xff) == (resultCode & 0xff) ? extended : resultCode,
            message: message,
            sql: sql
        )
    }

    public var description: String {
        var text = sqlState.map { "PostgreSQL error \($0): \(message)" } ?? "SQLite error \(code) (extended \(extendedCode)): \(message)"
        if let sql { text += " [\(sql.prefix(200))]" }
        return text
    }

    public var isConstraintViolation: Bool { code == SQLITE_CONSTRAINT }
    public var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }
    public var isReadOnly: Bool { code == SQLITE_READONLY }
    public var isCorrupt: Bool { code == SQLITE_CORRUPT || code == SQLITE_NOTADB }
    /// The disk (or the file's size limit) is full.
    public var isFull: Bool { code == SQLITE_FULL }

    // Extended constraint codes (C macros built by expressions, which Swift does not import).
    public static let constraintForeignKey: Int32 = SQLITE_CONSTRAINT | (3 << 8)
    public static let constraintPrimaryKey: Int32 = SQLITE_CONSTRAINT | (6 << 8)
    public static let constraintUnique: Int32 = SQLITE_CONSTRAINT | (8 << 8)
}
