import CSQLite
import Foundation

/// The SQLite store of documents, their references (<= 128 tokens each), the references' encoded
/// memories (one blob per profile) and a full-text index over reference text.
///
/// One connection per store object (on PostgreSQL two: one for writes, one for reads, so that a
/// replica's reads never wait behind its own write queued on the writer lock); every call takes the
/// connection's lock, so one object can be shared by any number of threads. Several store objects (in one process or many) can use the same file:
/// the file is in WAL mode, so readers never block the writer nor see half of a write, and writers
/// queue on the write lock for up to the busy timeout.
///
/// Durability: `synchronous = FULL`. In WAL mode `NORMAL` already survives a crash of the process,
/// but may lose the last commits on power loss or an OS crash; with `FULL` the WAL is synced at
/// every commit, so a document whose insert returned is on disk. The cost is one fsync per
/// document, small next to encoding a document's memories.
///
/// A document and all its references and memories are written in one transaction: it becomes
/// visible whole, or (on any failure, or a crash) not at all.
public final class MemoryStore: @unchecked Sendable {
    public let path: String
    public let isReadOnly: Bool

    /// Guards `database`; every access to the connection happens while holding it.
    private let lock = NSLock()
    private var database: (any SQLConnection)?
    /// PostgreSQL only: the connection calls that do not write use (guarded by `readLock`), its
    /// sessions read-only. Nil on SQLite, whose one connection reads beside other writers (WAL).
    private let readLock = NSLock()
    private var reader: PostgresDatabase?
    /// Which database the store is on.
    let dialect: SQLDialect
    /// "sqlite" or "postgres": which database the store is on.
    public var backend: String { dialect == .postgres ? "postgres" : "sqlite" }
    /// How many references each query word is in, as last counted (see `SearchQuery.pruned`).
    let documentFrequencies = DocumentFrequencyCache()
    /// SQLite stores past `indexedSearchAbove` references search through this in-memory index
    /// (built on first use, kept current by row id; see `LexicalIndex`), guarded by `indexLock`.
    var lexicalIndex: LexicalIndex?
    /// True while a thread builds the index (outside `indexLock`).
    var indexBuilding = false
    let indexLock = NSLock()
    /// SQLite stores with more references than this search through `LexicalIndex` (FTS5 answers
    /// while it is built, and for queries it cannot). 0: every SQLite store with references. Up to
    /// 2026-12-05 it was 2,000 (small stores asked FTS5, "fast enough"), but a memory swap waits for
    /// its BM25 search: a 64-word OR query took FTS5 1.1-1.2 ms on a 40-reference store (every row
    /// matches, bm25() for each), the index the same ranking in a fraction of it. Settable for tests.
    public var indexedSearchAbove = 0

    /// Page size of a new store: larger pages mean fewer overflow pages per memory blob (a dense
    /// int8 memory of a 128-token reference is ~1.5 MB).
    static let newStorePageSize = 16384
    /// The WAL file is truncated back to this size after a checkpoint.
    static let walSizeLimit = 64 << 20
    /// How much of the store file SQLite reads through a memory map (`PRAGMA mmap_size`) instead
    /// of a `pread` and a copy into its page cache per page: retrieval's per-swap statements land
    /// on scattered rows of a large file (the visibility check of a hybrid swap's dense candidates
    /// took a third to a half less time through the map at 1M references: docs/retrieval.md).
    /// SQLite maps only reads (writes still go through the journal) and never more than the file;
    /// 0x7fff0000 is the most a default SQLite build maps (a larger request is cut to it).
    static let mmapBytes: Int64 = 0x7fff_0000

    /// Opens the store at `path`, creating the file and its schema when missing (unless read-only),
    /// and migrating an older schema forward (refused when read-only). `path` may also be
    /// `sqlite:PATH`, or a PostgreSQL server (`postgres://user:password@host:port/database`, any
    /// libpq connection URL): a store that replicas share (see `PostgresDatabase`).
    ///
    /// - Parameter busyTimeoutMilliseconds: how long a write waits for another connection's write
    ///   to finish before failing with `MemoryStoreError.busy`.
    public init(path location: String, readOnly: Bool = false, busyTimeoutMilliseconds: Int = 5000) throws(MemoryStoreError) {
        let (database, name) = PostgresURL.isPostgres(location)
            ? try Self.openPostgres(location, readOnly: readOnly, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
            : try Self.openSQLite(location, readOnly: readOnly, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
        self.path = name
        self.isReadOnly = readOnly
        self.database = database
        self.dialect = database.dialect
        if database is PostgresDatabase {
            do {
                reader = try PostgresDatabase(url: location, readOnly: true, lockTimeoutMilliseconds: busyTimeoutMilliseconds)
            } catch {
                database.close()
                throw .cannotOpen(path: name, detail: error.message)
            }
        }
    }

    private static func openSQLite(_ location: String, readOnly: Bool,
                                   busyTimeoutMilliseconds: Int) throws(MemoryStoreError) -> (any SQLConnection, String) {
        let path = location.hasPrefix("sqlite:") ? String(location.dropFirst("sqlite:".count)) : location
        if readOnly, !FileManager.default.fileExists(atPath: path) {
            throw .databaseNotFound(path: path)
        }
        let options: Database.OpenOptions = readOnly ? [.readOnly, .noMutex] : [.readWrite, .create, .noMutex]
        let database: Database
        do {
            database = try Database(
                path: path,
                options: options,
                busyTimeoutMilliseconds: Int32(clamping: busyTimeoutMilliseconds)
            )
        } catch {
            if error.isCorrupt { throw .corrupt(path: path, detail: error.message) }
            throw .cannotOpen(path: path, detail: error.message)
        }
        try prepare(database, path: path) { () throws in
            try configure(database, readOnly: readOnly)
            try migrate(database, path: path, readOnly: readOnly)
        }
        return (database, path)
    }

    private static func openPostgres(_ url: String, readOnly: Bool,
                                     busyTimeoutMilliseconds: Int) throws(MemoryStoreError) -> (any SQLConnection, String) {
        let name = PostgresURL.redacted(url)
        let database: PostgresDatabase
        do {
            database = try PostgresDatabase(url: url, readOnly: readOnly, lockTimeoutMilliseconds: busyTimeoutMilliseconds)
        } catch {
            throw .cannotOpen(path: name, detail: error.message)
        }
        try prepare(database, path: name) { () throws in
            try PostgresSchema.migrate(database, path: name, readOnly: readOnly)
        }
        return (database, name)
    }

    /// Runs the opening steps, closing the connection and classifying the error when one fails.
    private static func prepare(_ database: any SQLConnection, path: String, _ steps: () throws -> Void) throws(MemoryStoreError) {
        do {
            try steps()
        } catch let error as MemoryStoreError {
            database.close()
            throw error
        } catch let error as SQLiteError {
            database.close()
            throw MemoryStoreError(error, path: path)
        } catch {
            database.close()
            throw .cannotOpen(path: path, detail: "\(error)")
        }
    }

    deinit {
        database?.close()
        reader?.close()
    }

    /// Closes the connection now. Later calls throw `MemoryStoreError.closed`.
    public func close() {
        lock.withLock {
            database?.close()
            database = nil
        }
        readLock.withLock {
            reader?.close()
            reader = nil
        }
    }

    // MARK: Opening

    private static func configure(_ database: any SQLConnection, readOnly: Bool) throws {
        try database.execute("PRAGMA foreign_keys = ON")
        // A build without memory-mapped I/O answers 0: the store then reads as before.
        _ = try database.scalarInt("PRAGMA mmap_size = \(mmapBytes)")
        if readOnly {
            // Reading the schema here surfaces "not a database" at open time, not at first use.
            _ = try database.scalarInt("SELECT count(*) FROM sqlite_schema")
            return
        }
        if try database.scalarInt("PRAGMA page_count") == 0 {
            // Only a new, empty file can take a page size (and it must come before WAL mode).
            try database.execute("PRAGMA page_size = \(newStorePageSize)")
        }
        // journal_mode returns the mode in force; a filesystem without shared memory support can
        // refuse WAL, in which case the store still works (rollback journal), only less concurrently.
        _ = try database.scalarString("PRAGMA journal_mode = WAL")
        try database.execute("PRAGMA synchronous = FULL")
        try database.execute("PRAGMA journal_size_limit = \(walSizeLimit)")
    }

    private struct SchemaState {
        var version: Int
        var applicationID: Int32
        var objectCount: Int
    }

    private static func schemaState(_ database: any SQLConnection) throws -> SchemaState {
        SchemaState(
            version: Int(try database.scalarInt("PRAGMA user_version") ?? 0),
            applicationID: Int32(truncatingIfNeeded: try database.scalarInt("PRAGMA application_id") ?? 0),
            objectCount: Int(try database.scalarInt("SELECT count(*) FROM sqlite_schema") ?? 0)
        )
    }

    private static func validate(_ state: SchemaState, path: String) throws(MemoryStoreError) {
        if state.applicationID != 0, state.applicationID != Schema.applicationID {
            throw .notAMemoryStore(path: path, detail: String(format: "application id 0x%08x", state.applicationID))
        }
        if state.version > Schema.currentVersion {
            throw .schemaTooNew(path: path, found: state.version, supported: Schema.currentVersion)
        }
        if state.version == 0, state.objectCount > 0 {
            throw .notAMemoryStore(path: path, detail: "it has \(state.objectCount) schema objects but no memory3 schema version")
        }
    }

    private static func migrate(_ database: any SQLConnection, path: String, readOnly: Bool) throws {
        let state = try schemaState(database)
        try validate(state, path: path)
        guard state.version < Schema.currentVersion else { return }
        if readOnly {
            throw MemoryStoreError.migrationRequired(path: path, found: state.version, required: Schema.currentVersion)
        }
        try database.transaction(.immediate) {
            // Read again under the write lock: another process may have migrated meanwhile.
            let locked = try schemaState(database)
            try validate(locked, path: path)
            guard locked.version < Schema.currentVersion else { return }
            for version in (locked.version + 1)...Schema.currentVersion {
                for step in Schema.migrations[version - 1] {
                    try database.execute(step)
                }
            }
            try database.execute("PRAGMA user_version = \(Schema.currentVersion)")
            try database.execute("PRAGMA application_id = \(Schema.applicationID)")
        }
    }

    // MARK: Access

    /// Runs `body` with the connection under its lock (on PostgreSQL, calls that do not write get
    /// the read connection), and turns every failure into a `MemoryStoreError`.
    func withDatabase<T>(writing: Bool = false, _ body: (any SQLConnection) throws -> T) throws(MemoryStoreError) -> T {
        if writing, isReadOnly { throw .readOnly(path: path) }
        // The read connection exists from the start on PostgreSQL (`close` empties both slots).
        let useReader = !writing && dialect == .postgres
        let connectionLock = useReader ? readLock : lock
        connectionLock.lock()
        defer { connectionLock.unlock() }
        guard let database: any SQLConnection = useReader ? reader : database else { throw .closed(path: path) }
        do {
            guard let postgres = database as? PostgresDatabase else { return try body(database) }
            try postgres.reconnectIfNeeded()
            postgres.rollbackStrayTransaction()
            do {
                return try body(postgres)
            } catch is SQLiteError where postgres.isBroken {
                // The connection went away (a restart, a failover) before or during this call: its
                // transaction was rolled back by the server, so it runs once more on a new one.
                try postgres.reconnectIfNeeded()
                return try body(postgres)
            }
        } catch let error as MemoryStoreError {
            throw error
        } catch let error as SQLiteError {
            throw MemoryStoreError(error, path: path)
        } catch {
            throw .sqlite(path: path, SQLiteError(code: SQLITE_ERROR, extendedCode: SQLITE_ERROR, message: "\(error)"))
        }
    }

    /// The schema version of the open store (`PRAGMA user_version`; on PostgreSQL, `memory3_schema`).
    public func schemaVersion() throws(MemoryStoreError) -> Int {
        try withDatabase { database in
            switch database.dialect {
            case .sqlite: Int(try database.scalarInt("PRAGMA user_version") ?? 0)
            case .postgres: Int(try database.scalarInt("SELECT version FROM memory3_schema") ?? 0)
            }
        }
    }


    /// The newest schema version this build writes.
    public static var currentSchemaVersion: Int { Schema.currentVersion }

    // MARK: Settings

    /// A stored setting (e.g. the model fingerprint the memories were written with), or nil.
    public func setting(_ key: String) throws(MemoryStoreError) -> String? {
        try withDatabase { try $0.scalarString("SELECT value FROM settings WHERE key = ?", [.text(key)]) }
    }

    /// Stores or replaces a setting.
    public func setSetting(_ key: String, _ value: String) throws(MemoryStoreError) {
        try withDatabase(writing: true) {
            try $0.run(
                "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [.text(key), .text(value)]
            )
        }
    }

    /// Removes a setting; true when it existed.
    @discardableResult
    public func removeSetting(_ key: String) throws(MemoryStoreError) -> Bool {
        try withDatabase(writing: true) { database in
            try database.run("DELETE FROM settings WHERE key = ?", [.text(key)])
            return database.changes > 0
        }
    }

    /// All settings.
    public func settings() throws(MemoryStoreError) -> [String: String] {
        try withDatabase { database in
            try database.withStatement("SELECT key, value FROM settings") { statement in
                var settings: [String: String] = [:]
                while try statement.step() { settings[statement.string(0)] = statement.string(1) }
                return settings
            }
        }
    }

    // MARK: Maintenance

    /// Counts and sizes, read from one consistent snapshot.
    public func statistics() throws(MemoryStoreError) -> StoreStatistics {
        try withDatabase { database in
            try database.transaction(.deferred) {
                let usage = try database.withStatement(
                    """
                    SELECT profile, codec, count(*), coalesce(sum(length(blob)), 0)
                    FROM memories GROUP BY profile, codec ORDER BY profile, codec
                    """
                ) { statement in
                    var usage: [StoreStatistics.MemoryUsage] = []
                    while try statement.step() {
                        usage.append(.init(
                            profile: statement.string(0), codec: statement.string(1),
                            count: statement.int(2), blobBytes: statement.int(3)
                        ))
                    }
                    return usage
                }
                let (fileBytes, freeBytes) = try Self.databaseSize(database)
                return StoreStatistics(
                    documents: Int(try database.scalarInt("SELECT count(*) FROM documents WHERE staged_by IS NULL") ?? 0),
                    references: Int(try database.scalarInt("SELECT count(*) FROM document_references") ?? 0),
                    tokens: Int(try database.scalarInt("SELECT coalesce(sum(token_count), 0) FROM document_references") ?? 0),
                    memories: usage.reduce(0) { $0 + $1.count },
                    memoryUsage: usage,
                    fileBytes: fileBytes,
                    freeBytes: freeBytes
                )
            }
        }
    }

    /// Bytes the database takes and, of those, bytes free for reuse (SQLite's free pages; on
    /// PostgreSQL the whole database's size, free space unknown: 0).
    private static func databaseSize(_ database: any SQLConnection) throws -> (total: Int, free: Int) {
        switch database.dialect {
        case .sqlite:
            let pageSize = Int(try database.scalarInt("PRAGMA page_size") ?? 0)
            return (pageSize * Int(try database.scalarInt("PRAGMA page_count") ?? 0),
                    pageSize * Int(try database.scalarInt("PRAGMA freelist_count") ?? 0))
        case .postgres:
            return (Int(try database.scalarInt("SELECT pg_database_size(current_database())") ?? 0), 0)
        }
    }

    /// Documents, references, tokens, memories and memory bytes, read from the counts the store
    /// keeps on every write: one small read, whatever the store's size (for /metrics).
    public func counts() throws(MemoryStoreError) -> StoreCounts {
        try withDatabase { database in
            try database.withStatement("SELECT name, value FROM store_counts") { statement in
                var values: [String: Int] = [:]
                while try statement.step() { values[statement.string(0)] = statement.int(1) }
                return StoreCounts(documents: values["documents"] ?? 0, references: values["references"] ?? 0,
                                   tokens: values["tokens"] ?? 0, memories: values["memories"] ?? 0,
                                   memoryBytes: values["memory_bytes"] ?? 0)
            }
        }
    }

    /// Caps the file at its current size plus a few pages (`PRAGMA max_page_count`): later
    /// writes that need more fail as on a full disk. For tests of that path only.
    public func limitPageCountForTesting(extraPages: Int = 4) throws(MemoryStoreError) {
        try withDatabase(writing: true) { database in
            guard database.dialect == .sqlite else {
                throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "a page limit exists on SQLite stores only")
            }
            let pages = try database.scalarInt("PRAGMA page_count") ?? 0
            _ = try database.scalarInt("PRAGMA max_page_count = \(pages + Int64(extraPages))")
        }
    }

    /// Checks the file (`PRAGMA integrity_check`), the foreign keys, and (unless read-only) that the
    /// full-text index matches the references. Returns the problems found; empty means healthy.
    public func integrityProblems() throws(MemoryStoreError) -> [String] {
        try withDatabase { database in try database.transaction(.deferred) {
            // PostgreSQL checks its own pages and enforces foreign keys on every write.
            var problems: [String] = []
            if database.dialect == .sqlite {
                problems = try database.strings("PRAGMA integrity_check").filter { $0 != "ok" }
                try database.withStatement("PRAGMA foreign_key_check") { statement in
                    while try statement.step() {
                        problems.append("foreign key: row \(statement.int64(1)) of \(statement.string(0)) points to a missing row of \(statement.string(2))")
                    }
                }
            }
            let recount: [(String, String)] = [
                ("documents", "SELECT count(*) FROM documents WHERE staged_by IS NULL"),
                ("references", "SELECT count(*) FROM document_references"),
                ("tokens", "SELECT coalesce(sum(token_count), 0) FROM document_references"),
                ("memories", "SELECT count(*) FROM memories"),
                ("memory_bytes", "SELECT coalesce(sum(length(blob)), 0) FROM memories"),
                ("embeddings", "SELECT count(*) FROM reference_embeddings"),
            ]
            for (name, query) in recount {
                let kept = try database.scalarInt("SELECT value FROM store_counts WHERE name = ?", [.text(name)])
                let actual = try database.scalarInt(query)
                if kept != actual { problems.append("count \(name): kept \(kept.map(String.init) ?? "none"), actual \(actual ?? 0)") }
            }
            if !isReadOnly, database.dialect == .sqlite {
                do {
                    try database.execute("INSERT INTO reference_fts (reference_fts) VALUES ('integrity-check')")
                } catch let error as SQLiteError {
                    problems.append("full-text index: \(error.message)")
                }
            }
            return problems
        } }
    }
}
