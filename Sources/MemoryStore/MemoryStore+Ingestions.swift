import Foundation

// Durable ingestion: accepted documents as rows, references committed in batches under a staged
// document, and the swap that makes the document visible. Every state change is one transaction,
// so a crash at any point leaves either the state before or the state after.

extension MemoryStore {
    /// Records accepted documents, bytes and all, in one transaction (all or none), state
    /// `queued`. A pending ingestion with the same external key is cancelled: the newest upload of a
    /// document wins.
    @discardableResult
    public func addIngestions(_ ingestions: [NewIngestion]) throws(MemoryStoreError) -> [IngestionRecord] {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                let now = Date().timeIntervalSince1970
                for new in ingestions {
                    if let key = new.externalKey {
                        for superseded in try database.strings(
                            "SELECT id FROM ingestions WHERE external_key = ? AND state IN ('queued', 'encoding')", [.text(key)]) {
                            try Self.finish(superseded, state: .cancelled, documentId: nil,
                                            error: "superseded by ingestion \(new.id) of the same document", in: database)
                        }
                    }
                    try database.run(
                        """
                        INSERT INTO ingestions (id, external_key, title, source, format, content, sha256, bytes, replacing,
                                                state, created_at, updated_at, owner, heartbeat)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)
                        """,
                        [.text(new.id), new.externalKey.map { .text($0) } ?? .null, .text(new.title), .text(new.source),
                         .text(new.format), .blob(new.content), .text(new.sha256), .integer(Int64(new.content.count)),
                         new.replacing.map { .integer($0) } ?? .null, .real(now), .real(now),
                         new.owner.map { .text($0) } ?? .null, new.owner == nil ? .null : .real(now)])
                }
                return try ingestions.map { new in try Self.ingestion(new.id, in: database)! }
            }
        }
    }

    /// An ingestion, or nil.
    public func ingestion(id: String) throws(MemoryStoreError) -> IngestionRecord? {
        try withDatabase { database in try Self.ingestion(id, in: database) }
    }

    /// The bytes of a pending ingestion (nil once it is final: they are dropped then).
    public func ingestionContent(id: String) throws(MemoryStoreError) -> [UInt8]? {
        try withDatabase { database in
            try database.withStatement("SELECT content FROM ingestions WHERE id = ?") { statement in
                try statement.bind(id, at: 1)
                guard try statement.step(), !statement.isNull(0) else { return nil }
                return statement.blob(0)
            }
        }
    }

    /// Ingestions in these states (all when nil), oldest first.
    public func ingestions(states: [IngestionState]? = nil, limit: Int = 1000, offset: Int = 0) throws(MemoryStoreError) -> [IngestionRecord] {
        try withDatabase { database in
            // SQLite's rowid is the insertion order; PostgreSQL has none (ids are random: a tie on
            // created_at, rare, is then broken by id).
            let order = database.dialect == .sqlite ? "created_at, rowid" : "created_at, id"
            let filter = states.map { list in "WHERE state IN (\(list.map { "'\($0.rawValue)'" }.joined(separator: ", ")))" } ?? ""
            return try database.withStatement(
                "SELECT \(Self.ingestionColumns) FROM ingestions \(filter) ORDER BY \(order) LIMIT ? OFFSET ?"
            ) { statement in
                try statement.bind(max(0, limit), at: 1)
                try statement.bind(max(0, offset), at: 2)
                var records: [IngestionRecord] = []
                while try statement.step() { records.append(Self.ingestionRecord(from: statement)) }
                return records
            }
        }
    }

    /// How many ingestions are queued or encoding.
    public func pendingIngestionCount() throws(MemoryStoreError) -> Int {
        try withDatabase { database in
            Int(try database.scalarInt("SELECT count(*) FROM ingestions WHERE state IN ('queued', 'encoding')") ?? 0)
        }
    }

    /// Makes `owner` the one process that carries a pending ingestion: true when it already is,
    /// when there is no owner, when the owner's process is gone (`isAlive` false), or when its
    /// heartbeat is older than `staleAfter` seconds. False (nothing changes) when another live
    /// owner holds it, or it is not pending. An earlier process with this one's pid on this host
    /// (`IngestionOwner.isEarlierProcess`) counts as gone.
    public func claimIngestion(id: String, owner: String, staleAfter: Double,
                               isAlive: (String) -> Bool = IngestionOwner.isAlive) throws(MemoryStoreError) -> Bool {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                let now = Date()
                guard let record = try Self.ingestion(id, in: database),
                      record.isClaimable(by: owner, staleAfter: staleAfter, now: now, isAlive: isAlive) else { return false }
                try database.run("UPDATE ingestions SET owner = ?, heartbeat = ? WHERE id = ?",
                                 [.text(owner), .real(now.timeIntervalSince1970), .text(id)])
                return true
            }
        }
    }

    /// Gives up `owner`'s pending ingestions (a stopping server): another process sharing the
    /// store may claim them at once instead of waiting for the heartbeat to go stale. Returns how many.
    @discardableResult
    public func releaseIngestions(owner: String) throws(MemoryStoreError) -> Int {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                try database.run("UPDATE ingestions SET owner = NULL, heartbeat = NULL WHERE owner = ? AND state IN ('queued', 'encoding')",
                                 [.text(owner)])
                return database.changes
            }
        }
    }

    /// Moves a queued ingestion to `encoding`: records how many references it will have and makes
    /// the staged document its references are committed under. Returns the staged document's id;
    /// for an ingestion already encoding (resumed after a restart), the one made before. Throws
    /// `ingestionNotPending` when it was finished meanwhile (cancelled).
    public func beginEncoding(ingestion id: String, referencesTotal: Int, owner: String? = nil) throws(MemoryStoreError) -> Int64 {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                guard let record = try Self.ingestion(id, in: database), record.state.isPending else {
                    throw MemoryStoreError.ingestionNotPending(id: id)
                }
                try Self.checkOwner(record, owner, in: database)
                if record.state == .encoding, let staged = record.documentId { return staged }
                let staged = try database.scalarInt(
                    "INSERT INTO documents (title, source, sha256, bytes, created_at, staged_by) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                    [.text(record.title), .text(record.source), .text("staged:\(id)"), .integer(Int64(record.bytes)),
                     .integer(Int64(Date().timeIntervalSince1970.rounded(.down))), .text(id)]) ?? 0
                try database.run(
                    """
                    UPDATE ingestions SET state = 'encoding', references_total = ?, references_done = 0, document_id = ?,
                                          updated_at = ? WHERE id = ?
                    """,
                    [.integer(Int64(referencesTotal)), .integer(staged), .real(Date().timeIntervalSince1970), .text(id)])
                return staged
            }
        }
    }

    /// Commits a batch of encoded references under the ingestion's staged document, with the
    /// count done so far, in one transaction. Throws `ingestionNotPending` (nothing written) when
    /// the ingestion was cancelled meanwhile.
    public func appendReferences(ingestion id: String, _ references: [NewReference], referencesDone: Int,
                                 owner: String? = nil) throws(MemoryStoreError) {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                guard let record = try Self.ingestion(id, in: database), record.state == .encoding, let staged = record.documentId else {
                    throw MemoryStoreError.ingestionNotPending(id: id)
                }
                try Self.checkOwner(record, owner, in: database)
                try Self.insertReferences(references, documentId: staged, into: database)
                try database.run("UPDATE ingestions SET references_done = ?, updated_at = ? WHERE id = ?",
                                 [.integer(Int64(referencesDone)), .real(Date().timeIntervalSince1970), .text(id)])
            }
        }
    }

    /// Makes an encoded ingestion's document visible, in one transaction. When it replaces a
    /// document (by id, or the one with the same external key) that document keeps its id and
    /// gets the new text, references and memories; its old references are gone. When another
    /// document already holds the same content, the ingestion is `skipped` instead and points at
    /// it. Returns the final record.
    public func completeIngestion(id: String, owner: String? = nil) throws(MemoryStoreError) -> IngestionRecord {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                guard let record = try Self.ingestion(id, in: database), record.state == .encoding, let staged = record.documentId else {
                    throw MemoryStoreError.ingestionNotPending(id: id)
                }
                try Self.checkOwner(record, owner, in: database)
                var target = record.replacing
                if let replacing = target, try database.scalarInt(
                    "SELECT id FROM documents WHERE id = ? AND staged_by IS NULL", [.integer(replacing)]) == nil {
                    try Self.finish(id, state: .failed, documentId: nil,
                                    error: "document \(replacing) was deleted while its replacement was being encoded", in: database)
                    return try Self.ingestion(id, in: database)!
                }
                if target == nil, let key = record.externalKey {
                    target = try database.scalarInt(
                        "SELECT id FROM documents WHERE external_key = ? AND staged_by IS NULL", [.text(key)])
                }
                if let holder = try database.scalarInt(
                    "SELECT id FROM documents WHERE sha256 = ? AND staged_by IS NULL", [.text(record.sha256)]) {
                    try Self.finish(id, state: .skipped, documentId: holder,
                                    error: "the same content is stored as document \(holder)", in: database)
                    return try Self.ingestion(id, in: database)!
                }
                let now = Date().timeIntervalSince1970
                let final: Int64
                if let target {
                    // Old references (with their memories and index rows) go; the staged ones move
                    // under the kept id; the staged row goes.
                    try database.run("DELETE FROM document_references WHERE document_id = ?", [.integer(target)])
                    try database.run("UPDATE document_references SET document_id = ? WHERE document_id = ?",
                                     [.integer(target), .integer(staged)])
                    try database.run("DELETE FROM documents WHERE id = ?", [.integer(staged)])
                    try database.run(
                        """
                        UPDATE documents SET title = ?, source = ?, sha256 = ?, bytes = ?, created_at = ?,
                                             external_key = coalesce(?, external_key) WHERE id = ?
                        """,
                        [.text(record.title), .text(record.source), .text(record.sha256), .integer(Int64(record.bytes)),
                         .integer(Int64(now.rounded(.down))), record.externalKey.map { .text($0) } ?? .null, .integer(target)])
                    final = target
                } else {
                    try database.run("UPDATE documents SET staged_by = NULL, sha256 = ?, external_key = ? WHERE id = ?",
                                     [.text(record.sha256), record.externalKey.map { .text($0) } ?? .null, .integer(staged)])
                    final = staged
                }
                try Self.finish(id, state: .ready, documentId: final, error: nil, in: database)
                return try Self.ingestion(id, in: database)!
            }
        }
    }

    /// Ends a pending ingestion as skipped, failed or cancelled: its staged references go, its bytes
    /// are dropped. Returns false when it was not pending (nothing changes then).
    @discardableResult
    public func endIngestion(id: String, state: IngestionState, documentId: Int64? = nil, error: String?) throws(MemoryStoreError) -> Bool {
        precondition(!state.isPending && state != .ready, "an ingestion ends ready only through completeIngestion")
        return try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                guard let record = try Self.ingestion(id, in: database), record.state.isPending else { return false }
                try Self.finish(id, state: state, documentId: documentId, error: error, in: database)
                return true
            }
        }
    }

    // MARK: Helpers (called with the lock held, inside a transaction)

    /// With an owner given, the ingestion must be that owner's (else another process took it
    /// over: `ingestionHeldElsewhere`, nothing written); its heartbeat is renewed.
    private static func checkOwner(_ record: IngestionRecord, _ owner: String?, in database: any SQLConnection) throws {
        guard let owner else { return }
        guard record.owner == owner else { throw MemoryStoreError.ingestionHeldElsewhere(id: record.id, owner: record.owner ?? "none") }
        try database.run("UPDATE ingestions SET heartbeat = ? WHERE id = ?", [.real(Date().timeIntervalSince1970), .text(record.id)])
    }

    private static let ingestionColumns = """
        id, external_key, title, source, format, sha256, bytes, replacing, state, references_total, references_done,
        document_id, error, created_at, updated_at, owner, heartbeat
        """

    private static func ingestion(_ id: String, in database: any SQLConnection) throws -> IngestionRecord? {
        try database.withStatement("SELECT \(ingestionColumns) FROM ingestions WHERE id = ?") { statement in
            try statement.bind(id, at: 1)
            return try statement.step() ? ingestionRecord(from: statement) : nil
        }
    }

    private static func ingestionRecord(from s: any SQLStatement) -> IngestionRecord {
        func optionalText(_ c: Int32) -> String? { s.isNull(c) ? nil : s.string(c) }
        func optionalInt(_ c: Int32) -> Int64? { s.isNull(c) ? nil : s.int64(c) }
        return IngestionRecord(
            id: s.string(0), externalKey: optionalText(1), title: s.string(2), source: s.string(3), format: s.string(4),
            sha256: s.string(5), bytes: s.int(6), replacing: optionalInt(7),
            state: IngestionState(rawValue: s.string(8)) ?? .failed,
            referencesTotal: optionalInt(9).map(Int.init), referencesDone: s.int(10), documentId: optionalInt(11),
            error: optionalText(12), createdAt: Date(timeIntervalSince1970: s.double(13)),
            updatedAt: Date(timeIntervalSince1970: s.double(14)), owner: optionalText(15),
            heartbeat: s.isNull(16) ? nil : Date(timeIntervalSince1970: s.double(16)))
    }

    /// Sets a final state, deletes the staged document (with its references, memories and index
    /// rows) unless it became the final one, and drops the bytes.
    private static func finish(_ id: String, state: IngestionState, documentId: Int64?, error: String?, in database: any SQLConnection) throws {
        try database.run("DELETE FROM documents WHERE staged_by = ?", [.text(id)])
        try database.run(
            "UPDATE ingestions SET state = ?, document_id = ?, error = ?, content = NULL, updated_at = ? WHERE id = ?",
            [.text(state.rawValue), documentId.map { .integer($0) } ?? .null, error.map { .text($0) } ?? .null,
             .real(Date().timeIntervalSince1970), .text(id)])
    }
}
