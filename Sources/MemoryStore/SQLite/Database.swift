import CSQLite

/// One SQLite connection. A thin wrapper of the C API: open, run SQL, prepare statements, and
/// transactions. Not thread-safe on its own (opened with `SQLITE_OPEN_NOMUTEX`): its owner
/// serializes access (`MemoryStore` holds it under a lock).
final class Database {
    struct OpenOptions: OptionSet, Sendable {
        let rawValue: Int32
        static let readOnly = OpenOptions(rawValue: SQLITE_OPEN_READONLY)
        static let readWrite = OpenOptions(rawValue: SQLITE_OPEN_READWRITE)
        static let create = OpenOptions(rawValue: SQLITE_OPEN_CREATE)
        static let noMutex = OpenOptions(rawValue: SQLITE_OPEN_NOMUTEX)
        static let uri = OpenOptions(rawValue: SQLITE_OPEN_URI)
    }

    private(set) var handle: OpaquePointer?
    let path: String
    var savepointDepth = 0

    init(path: String, options: OpenOptions, busyTimeoutMilliseconds: Int32 = 5000) throws(SQLiteError) {
        self.path = path
        var connection: OpaquePointer?
        let rc = sqlite3_open_v2(path, &connection, options.rawValue, nil)
        guard rc == SQLITE_OK, let connection else {
            let error = SQLiteError(connection: connection, resultCode: rc)
            sqlite3_close_v2(connection) // a failed open may still allocate a handle
            throw error
        }
        handle = connection
        sqlite3_extended_result_codes(connection, 1)
        sqlite3_busy_timeout(connection, busyTimeoutMilliseconds)
    }

    deinit { close() }

    /// Closes the connection. Statements still alive are finalized by their owners; `close_v2`
    /// defers the real close until the last one is gone.
    func close() {
        guard let handle else { return }
        sqlite3_close_v2(handle)
        self.handle = nil
    }

    private func live() throws(SQLiteError) -> OpaquePointer {
        guard let handle else {
            throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "database connection is closed")
        }
        return handle
    }

    /// Runs one or more SQL statements separated by semicolons; rows are ignored. No parameters:
    /// never pass user input here.
    func execute(_ sql: String) throws(SQLiteError) {
        let connection = try live()
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(connection, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let extended = sqlite3_extended_errcode(connection)
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(rc))
            sqlite3_free(message)
            throw SQLiteError(
                code: rc & 0xff,
                extendedCode: (extended & 0xff) == (rc & 0xff) ? extended : rc,
                message: text,
                sql: sql
            )
        }
    }

    /// Prepares one statement. Prefer `withStatement`, which finalizes on scope exit.
    func prepare(_ sql: String) throws(SQLiteError) -> Statement {
        try Statement(connection: try live(), sql: sql)
    }

    var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }
    /// True when no transaction is open (SQLite's autocommit mode).
    var isAutocommit: Bool { handle.map { sqlite3_get_autocommit($0) != 0 } ?? true }
}

extension Database: SQLConnection {
    var dialect: SQLDialect { .sqlite }

    func prepareStatement(_ sql: String) throws -> any SQLStatement { try prepare(sql) }

    func begin(_ kind: TransactionKind) throws {
        switch kind {
        // Takes the write lock at BEGIN, so a writer never fails half-way for want of the lock.
        case .immediate: try execute("BEGIN IMMEDIATE")
        // Takes locks lazily; the snapshot starts at the first read.
        case .deferred: try execute("BEGIN DEFERRED")
        }
    }
}
