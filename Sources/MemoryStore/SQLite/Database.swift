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
    private var savepointDepth = 0

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

    /// Prepares `sql`, hands the statement to `body`, and finalizes it when `body` returns or throws.
    func withStatement<T>(_ sql: String, _ body: (Statement) throws -> T) throws -> T {
        let statement = try prepare(sql)
        defer { statement.finalize() }
        return try body(statement)
    }

    /// Runs a statement with parameters to completion.
    func run(_ sql: String, _ values: [SQLiteValue] = []) throws {
        try withStatement(sql) { statement in
            try statement.bind(values)
            try statement.run()
        }
    }

    /// The first column of the first row as an integer, or nil when there is no row or it is NULL.
    func scalarInt(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int64? {
        try withStatement(sql) { statement in
            try statement.bind(values)
            guard try statement.step(), !statement.isNull(0) else { return nil }
            return statement.int64(0)
        }
    }

    /// The first column of the first row as text, or nil when there is no row or it is NULL.
    func scalarString(_ sql: String, _ values: [SQLiteValue] = []) throws -> String? {
        try withStatement(sql) { statement in
            try statement.bind(values)
            guard try statement.step(), !statement.isNull(0) else { return nil }
            return statement.string(0)
        }
    }

    /// The first column of every row as text.
    func strings(_ sql: String, _ values: [SQLiteValue] = []) throws -> [String] {
        try withStatement(sql) { statement in
            try statement.bind(values)
            var rows: [String] = []
            while try statement.step() { rows.append(statement.string(0)) }
            return rows
        }
    }

    var lastInsertRowID: Int64 { handle.map { sqlite3_last_insert_rowid($0) } ?? 0 }
    var changes: Int { handle.map { Int(sqlite3_changes($0)) } ?? 0 }
    /// True when no transaction is open (SQLite's autocommit mode).
    var isAutocommit: Bool { handle.map { sqlite3_get_autocommit($0) != 0 } ?? true }

    enum TransactionKind: String {
        /// Takes the write lock at BEGIN, so a writer never fails half-way for want of the lock.
        case immediate = "BEGIN IMMEDIATE"
        /// Takes locks lazily; for read-only snapshots.
        case deferred = "BEGIN DEFERRED"
    }

    /// Runs `body` in a transaction: committed when `body` returns, rolled back when it throws.
    /// Nested calls use savepoints, so an inner failure undoes only the inner work.
    func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        if !isAutocommit {
            return try savepoint(body)
        }
        try execute(kind.rawValue)
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            rollbackIfOpen()
            throw error
        }
    }

    private func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "nested_\(savepointDepth)"
        try execute("SAVEPOINT \(name)")
        do {
            let result = try body()
            try execute("RELEASE \(name)")
            return result
        } catch {
            // Some errors (I/O, full disk) roll the whole transaction back on their own.
            if !isAutocommit {
                try? execute("ROLLBACK TO \(name)")
                try? execute("RELEASE \(name)")
            }
            throw error
        }
    }

    private func rollbackIfOpen() {
        // SQLite may already have rolled back by itself (SQLITE_FULL, SQLITE_IOERR, ...).
        if !isAutocommit { try? execute("ROLLBACK") }
    }
}
