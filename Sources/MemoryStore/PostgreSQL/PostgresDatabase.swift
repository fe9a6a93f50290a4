import CLibPQ
import CSQLite
import Foundation

/// One connection to a PostgreSQL server (libpq, synchronous), speaking to the store's code as an
/// `SQLConnection`. Not thread-safe: its owner (`MemoryStore`) serializes access.
///
/// Writers exclude each other as SQLite's do: an immediate transaction takes one advisory lock
/// (`writerLockKey`) at BEGIN and holds it until COMMIT. So every check-then-write of the store
/// (claiming an ingestion, making a document visible) is race-free across replicas, and row ids
/// commit in the order they were drawn (an in-memory index that reads new rows by `id > last`
/// never skips one). Writes are short (memories are encoded outside the transaction), so one
/// writer at a time costs little.
final class PostgresDatabase {
    private(set) var connection: OpaquePointer?
    /// The server address without its password, for messages and logs.
    let displayName: String
    let readOnly: Bool
    let lockTimeoutMilliseconds: Int
    var savepointDepth = 0
    private(set) var lastChanges = 0

    /// Advisory lock key of the store's single writer ("M3ms", the SQLite store's application id).
    static let writerLockKey: Int64 = 0x4D33_6D73

    init(url: String, readOnly: Bool, lockTimeoutMilliseconds: Int) throws(SQLiteError) {
        self.displayName = PostgresURL.redacted(url)
        self.readOnly = readOnly
        self.lockTimeoutMilliseconds = lockTimeoutMilliseconds
        // Defaults the URL may override (it is expanded last): a dead peer is noticed in about a
        // minute (keepalives, unacknowledged writes), not after the kernel's 2 hours / 15 minutes.
        let defaults = [("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
                        ("tcp_user_timeout", "60000"), ("connect_timeout", "10"), ("dbname", url)]
        let connection = Self.connect(defaults)
        guard let connection, PQstatus(connection) == CONNECTION_OK else {
            let message = connection.map { String(cString: PQerrorMessage($0)) } ?? "out of memory"
            PQfinish(connection)
            throw SQLiteError(code: SQLITE_CANTOPEN, extendedCode: SQLITE_CANTOPEN,
                              message: message.trimmingCharacters(in: .whitespacesAndNewlines), sqlState: "08001")
        }
        self.connection = connection
        try configureSession()
    }

    deinit { close() }

    private static func connect(_ parameters: [(String, String)]) -> OpaquePointer? {
        let keywords = parameters.map { strdup($0.0) }
        let values = parameters.map { strdup($0.1) }
        defer { (keywords + values).forEach { free($0) } }
        let keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        let valuePointers = values.map { UnsafePointer($0) } + [nil]
        return PQconnectdbParams(keywordPointers, valuePointers, 1)
    }

    /// Session settings, run after every (re)connection. Notices (e.g. "query contains only stop
    /// words") are dropped, not printed on stderr.
    private func configureSession() throws(SQLiteError) {
        guard let connection else { return }
        PQsetNoticeProcessor(connection, { _, _ in }, nil)
        // Text the store reads back as it wrote it (whatever the server's defaults), and a
        // transaction left open by a vanished client (its writer lock held) ends after 30 s.
        var setup = """
            SET client_min_messages = warning; SET lock_timeout = \(max(1, lockTimeoutMilliseconds)); SET bytea_output = hex; \
            SET client_encoding = 'UTF8'; SET extra_float_digits = 3; SET idle_in_transaction_session_timeout = '30s'
            """
        if readOnly { setup += "; SET default_transaction_read_only = on" }
        try execute(setup)
    }

    func live() throws(SQLiteError) -> OpaquePointer {
        guard let connection else {
            throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "database connection is closed")
        }
        return connection
    }

    /// Reconnects when the server dropped the connection (a restart, a failover) and no
    /// transaction was open; the next statement then runs on the new connection.
    func reconnectIfNeeded() throws(SQLiteError) {
        let connection = try live()
        guard PQstatus(connection) != CONNECTION_OK else { return }
        PQreset(connection)
        guard PQstatus(connection) == CONNECTION_OK else {
            throw SQLiteError(code: SQLITE_IOERR, extendedCode: SQLITE_IOERR,
                              message: String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines),
                              sqlState: "08006")
        }
        savepointDepth = 0
        try configureSession()
    }

    /// Runs one or more statements without parameters.
    func execute(_ sql: String) throws(SQLiteError) {
        let result = PQexec(try live(), sql)
        defer { PQclear(result) }
        try check(result, sql: sql)
        lastChanges = Self.changes(of: result)
    }

    /// Throws the server's error when `result` is not a success.
    func check(_ result: OpaquePointer?, sql: String) throws(SQLiteError) {
        guard let result else {
            throw SQLiteError(code: SQLITE_IOERR, extendedCode: SQLITE_IOERR,
                              message: connection.map { String(cString: PQerrorMessage($0)) } ?? "no connection", sql: sql, sqlState: "08006")
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY: return
        default: throw Self.error(from: result, sql: sql)
        }
    }

    func recordChanges(_ result: OpaquePointer?) { lastChanges = Self.changes(of: result) }

    private static func changes(of result: OpaquePointer?) -> Int {
        guard let result, let text = PQcmdTuples(result) else { return 0 }
        return Int(String(cString: text)) ?? 0
    }

    /// The server's error as the store's error codes (see `PostgresErrorCodes`).
    static func error(from result: OpaquePointer, sql: String) -> SQLiteError {
        func field(_ code: Int32) -> String? { PQresultErrorField(result, code).map { String(cString: $0) } }
        let state = field(Int32(UInt8(ascii: "C"))) ?? "XX000"
        let message = field(Int32(UInt8(ascii: "M"))) ?? String(cString: PQresultErrorMessage(result))
        let constraint = field(Int32(UInt8(ascii: "n")))
        let (code, extended) = PostgresErrorCodes.sqliteCodes(sqlState: state, constraint: constraint)
        return SQLiteError(code: code, extendedCode: extended, message: message, sql: sql, sqlState: state)
    }

    func close() {
        guard let connection else { return }
        PQfinish(connection)
        self.connection = nil
    }
}

extension PostgresDatabase: SQLConnection {
    var dialect: SQLDialect { .postgres }

    func prepareStatement(_ sql: String) throws -> any SQLStatement {
        PostgresStatement(database: self, sql: PostgresStatement.numberedParameters(sql))
    }

    var changes: Int { lastChanges }

    var isAutocommit: Bool { connection.map { PQtransactionStatus($0) == PQTRANS_IDLE } ?? true }

    func begin(_ kind: TransactionKind) throws {
        do {
            switch kind {
            case .immediate: try execute("BEGIN; SELECT pg_advisory_xact_lock(\(Self.writerLockKey))")
            case .deferred: try execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            }
        } catch {
            // BEGIN opened a transaction that the failed lock wait left aborted: end it, or every
            // later statement on this connection would fail.
            if !isAutocommit { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Ends a transaction a failure left open (none should be, between the store's calls).
    func rollbackStrayTransaction() {
        guard let connection, PQtransactionStatus(connection) != PQTRANS_IDLE else { return }
        try? execute("ROLLBACK")
        savepointDepth = 0
    }

    /// Whether the connection is lost (a server restart, a failover, a network failure).
    var isBroken: Bool { connection.map { PQstatus($0) != CONNECTION_OK } ?? true }
}

/// PostgreSQL's SQLSTATE classes mapped onto the SQLite result codes the store already acts on
/// (a constraint, a busy lock, a full disk, a read-only store), so both backends fail alike.
enum PostgresErrorCodes {
    static func sqliteCodes(sqlState: String, constraint: String?) -> (code: Int32, extended: Int32) {
        switch sqlState {
        case "23505":
            let key = constraint?.hasSuffix("_pkey") == true ? SQLiteError.constraintPrimaryKey : SQLiteError.constraintUnique
            return (SQLITE_CONSTRAINT, key)
        case "23503": return (SQLITE_CONSTRAINT, SQLiteError.constraintForeignKey)
        case _ where sqlState.hasPrefix("23"): return (SQLITE_CONSTRAINT, SQLITE_CONSTRAINT)
        case "40001", "40P01", "55P03", "57014": return (SQLITE_BUSY, SQLITE_BUSY)
        case "25006": return (SQLITE_READONLY, SQLITE_READONLY)
        case "53100": return (SQLITE_FULL, SQLITE_FULL)
        case _ where sqlState.hasPrefix("08") || sqlState.hasPrefix("57P"): return (SQLITE_IOERR, SQLITE_IOERR)
        default: return (SQLITE_ERROR, SQLITE_ERROR)
        }
    }
}

/// `postgres://` and `postgresql://` store addresses.
public enum PostgresURL {
    /// True when `location` names a PostgreSQL server rather than an SQLite file.
    public static func isPostgres(_ location: String) -> Bool {
        location.hasPrefix("postgres://") || location.hasPrefix("postgresql://")
    }

    /// The address with any password (in the user part or a `password=` parameter) replaced by
    /// `***`, safe for logs and error messages.
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        var rest = String(url[scheme.upperBound...])
        var query = ""
        if let mark = rest.firstIndex(of: "?") {
            query = String(rest[mark...])
            rest = String(rest[..<mark])
        }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        if let at = rest[..<authorityEnd].lastIndex(of: "@"), let colon = rest[..<at].firstIndex(of: ":") {
            rest = String(rest[..<colon]) + ":***" + rest[at...]
        }
        let parameters = query.dropFirst().split(separator: "&", omittingEmptySubsequences: false).map { parameter in
            parameter.lowercased().hasPrefix("password=") ? "password=***" : String(parameter)
        }
        return String(url[..<scheme.upperBound]) + rest + (query.isEmpty ? "" : "?" + parameters.joined(separator: "&"))
    }
}

/// Databases on a PostgreSQL server, for benchmarks and tests that need a fresh, empty store.
public enum PostgresServer {
    /// Creates database `name` on the server of `url` (a URL of any database there, e.g.
    /// `.../postgres`) and returns the URL of the new one.
    public static func createDatabase(_ name: String, on url: String) throws(MemoryStoreError) -> String {
        try administer(url) { "CREATE DATABASE \(quotedName(name))" }
        return databaseURL(url, name: name)
    }

    /// Drops database `name` (and every connection to it) when it exists.
    public static func dropDatabase(_ name: String, on url: String) throws(MemoryStoreError) {
        try administer(url) { "DROP DATABASE IF EXISTS \(quotedName(name)) WITH (FORCE)" }
    }

    /// `url` with its database path replaced by `name` (query parameters kept).
    public static func databaseURL(_ url: String, name: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        let rest = url[scheme.upperBound...]
        let query = rest.firstIndex(of: "?").map { String(rest[$0...]) } ?? ""
        let beforeQuery = rest[..<(rest.firstIndex(of: "?") ?? rest.endIndex)]
        let authority = beforeQuery.firstIndex(of: "/").map { beforeQuery[..<$0] } ?? beforeQuery
        return String(url[..<scheme.upperBound]) + authority + "/" + name + query
    }

    private static func quotedName(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func administer(_ url: String, _ sql: () -> String) throws(MemoryStoreError) {
        do {
            let admin = try PostgresDatabase(url: url, readOnly: false, lockTimeoutMilliseconds: 30_000)
            defer { admin.close() }
            try admin.execute(sql())
        } catch {
            throw .cannotOpen(path: PostgresURL.redacted(url), detail: error.message)
        }
    }
}
