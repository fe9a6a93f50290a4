import CSQLite
import Foundation

// Writing and listing documents.

extension MemoryStore {
    /// Inserts a document with all its references and memories in one transaction and returns its
    /// id. Throws `duplicateDocument` when a document with the same SHA-256 is stored, and
    /// `invalidDocument` when the document breaks a rule of the schema; in both cases nothing is stored.
    public func insertDocument(_ document: NewDocument) throws(MemoryStoreError) -> Int64 {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                try Self.insert(document, id: nil, into: database)
            }
        }
    }

    /// Replaces document `id` by `document` in one transaction, keeping the id (returned). The old
    /// references and memories are deleted; the new references get new ids. Throws
    /// `documentNotFound` when `id` is not stored and `duplicateDocument` when another document
    /// has the new content; then nothing changes.
    @discardableResult
    public func replaceDocument(id: Int64, with document: NewDocument) throws(MemoryStoreError) -> Int64 {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                guard try Self.deleteDocument(id: id, in: database) else {
                    throw MemoryStoreError.documentNotFound(id: id)
                }
                return try Self.insert(document, id: id, into: database)
            }
        }
    }

    /// Deletes a document with its references, memories and index entries; false when `id` is not stored.
    @discardableResult
    public func deleteDocument(id: Int64) throws(MemoryStoreError) -> Bool {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                try Self.deleteDocument(id: id, in: database)
            }
        }
    }

    /// Adds or replaces memories of existing references (e.g. encoding a store under a second
    /// profile), all in one transaction.
    public func upsertMemories(_ memoriesByReference: [Int64: [NewMemory]]) throws(MemoryStoreError) {
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                try database.withStatement(
                    """
                    INSERT INTO memories (reference_id, profile, codec, blob) VALUES (?, ?, ?, ?)
                    ON CONFLICT (reference_id, profile) DO UPDATE SET codec = excluded.codec, blob = excluded.blob
                    """
                ) { statement in
                    for (referenceId, memories) in memoriesByReference.sorted(by: { $0.key < $1.key }) {
                        for memory in memories {
                            try statement.bind([.integer(referenceId), .text(memory.profile), .text(memory.codec), .blob(memory.blob)])
                            do {
                                try statement.run()
                            } catch let error as SQLiteError {
                                guard error.extendedCode == SQLiteError.constraintForeignKey else { throw error }
                                throw MemoryStoreError.referenceNotFound(id: referenceId)
                            }
                            statement.reset()
                        }
                    }
                }
            }
        }
    }

    /// Deletes every memory of `profile`; returns how many were deleted.
    @discardableResult
    public func deleteMemories(profile: String) throws(MemoryStoreError) -> Int {
        try withDatabase(writing: true) { database in
            try database.run("DELETE FROM memories WHERE profile = ?", [.text(profile)])
            return database.changes
        }
    }

    /// The document with this stable key (a source path, a client's `external_id`), or nil.
    public func document(externalKey: String) throws(MemoryStoreError) -> DocumentSummary? {
        try withDatabase { database in
            try Self.summaries(where: "AND d.external_key = ?", [.text(externalKey)], in: database).first
        }
    }

    /// The document with this content hash, or nil.
    public func document(sha256: String) throws(MemoryStoreError) -> DocumentSummary? {
        try withDatabase { database in
            try Self.summaries(where: "AND d.sha256 = ?", [.text(sha256)], in: database).first
        }
    }

    /// Documents in id order (insertion order), `limit` at most, skipping `offset`.
    public func documents(limit: Int = 1000, offset: Int = 0) throws(MemoryStoreError) -> [DocumentSummary] {
        try withDatabase { database in
            try Self.summaries(
                where: "ORDER BY d.id LIMIT ? OFFSET ?",
                [.integer(Int64(max(0, limit))), .integer(Int64(max(0, offset)))],
                in: database
            )
        }
    }

    /// A document with its references in ordinal order, or nil.
    public func document(id: Int64) throws(MemoryStoreError) -> DocumentDetail? {
        try withDatabase { database in
            try database.transaction(.deferred) {
                guard let summary = try Self.summaries(where: "AND d.id = ?", [.integer(id)], in: database).first else {
                    return nil
                }
                let references = try database.withStatement(
                    "SELECT id, document_id, ordinal, text, token_count FROM document_references WHERE document_id = ? ORDER BY ordinal"
                ) { statement in
                    try statement.bind(id, at: 1)
                    var references: [StoredReference] = []
                    while try statement.step() { references.append(Self.reference(from: statement)) }
                    return references
                }
                return DocumentDetail(summary: summary, references: references)
            }
        }
    }

    /// A reference, or nil.
    public func reference(id: Int64) throws(MemoryStoreError) -> StoredReference? {
        try withDatabase { database in
            try database.withStatement(
                "SELECT id, document_id, ordinal, text, token_count FROM document_references WHERE id = ?"
            ) { statement in
                try statement.bind(id, at: 1)
                return try statement.step() ? Self.reference(from: statement) : nil
            }
        }
    }

    // MARK: Helpers (called with the lock held, inside a transaction)

    private static func insert(_ document: NewDocument, id: Int64?, into database: any SQLConnection) throws -> Int64 {
        if let existing = try database.scalarInt("SELECT id FROM documents WHERE sha256 = ?", [.text(document.sha256)]) {
            throw MemoryStoreError.duplicateDocument(existingId: existing)
        }
        let documentId: Int64
        do {
            // An id column given NULL is drawn by SQLite, refused by PostgreSQL: named only when set.
            let idColumn = id == nil ? "" : "id, "
            let idValue: [SQLiteValue] = id.map { [.integer($0)] } ?? []
            documentId = try database.scalarInt(
                """
                INSERT INTO documents (\(idColumn)title, source, sha256, bytes, created_at, external_key)
                VALUES (\(id == nil ? "" : "?, ")?, ?, ?, ?, ?, ?) RETURNING id
                """,
                idValue + [
                    .text(document.title), .text(document.source), .text(document.sha256),
                    .integer(Int64(document.bytes)), .integer(Int64(Date().timeIntervalSince1970.rounded(.down))),
                    document.externalKey.map { .text($0) } ?? .null,
                ]
            ) ?? 0
        } catch let error as SQLiteError {
            guard error.isConstraintViolation else { throw error }
            throw MemoryStoreError.invalidDocument("document: \(error.message)")
        }
        try insertReferences(document.references, documentId: documentId, into: database)
        return documentId
    }

    /// Inserts references with their memories under `documentId`.
    static func insertReferences(_ references: [NewReference], documentId: Int64, into database: any SQLConnection) throws {
        let insertReference = try database.prepareStatement(
            "INSERT INTO document_references (document_id, ordinal, text, token_count) VALUES (?, ?, ?, ?) RETURNING id"
        )
        defer { insertReference.finalize() }
        let insertMemory = try database.prepareStatement(
            "INSERT INTO memories (reference_id, profile, codec, blob) VALUES (?, ?, ?, ?)"
        )
        defer { insertMemory.finalize() }

        for reference in references {
            let referenceId: Int64
            do {
                try insertReference.bind([
                    .integer(documentId), .integer(Int64(reference.ordinal)),
                    .text(reference.text), .integer(Int64(reference.tokenCount)),
                ])
                _ = try insertReference.step()
                referenceId = insertReference.int64(0)
                insertReference.reset()
            } catch let error as SQLiteError {
                guard error.isConstraintViolation else { throw error }
                let detail = error.extendedCode == SQLiteError.constraintUnique
                    ? "ordinal \(reference.ordinal) appears more than once"
                    : error.message
                throw MemoryStoreError.invalidDocument("reference \(reference.ordinal): \(detail)")
            }
            if let embedding = reference.embedding {
                try Self.putEmbedding(embedding, referenceId: referenceId, in: database)
            }
            for memory in reference.memories {
                do {
                    try insertMemory.bind([.integer(referenceId), .text(memory.profile), .text(memory.codec), .blob(memory.blob)])
                    try insertMemory.run()
                    insertMemory.reset()
                } catch let error as SQLiteError {
                    guard error.isConstraintViolation else { throw error }
                    let detail = error.extendedCode == SQLiteError.constraintPrimaryKey
                        ? "profile \"\(memory.profile)\" appears more than once"
                        : error.message
                    throw MemoryStoreError.invalidDocument("memory of reference \(reference.ordinal): \(detail)")
                }
            }
        }
    }

    static func deleteDocument(id: Int64, in database: any SQLConnection) throws -> Bool {
        // References, memories and full-text rows go by ON DELETE CASCADE and the FTS triggers.
        // A staged document is not a document yet: it goes with its ingestion.
        try database.run("DELETE FROM documents WHERE id = ? AND staged_by IS NULL", [.integer(id)])
        return database.changes > 0
    }

    static func summaries(where clause: String, _ values: [SQLiteValue], in database: any SQLConnection) throws -> [DocumentSummary] {
        try database.withStatement(
            """
            SELECT d.id, d.title, d.source, d.sha256, d.bytes, d.created_at,
                   (SELECT count(*) FROM document_references r WHERE r.document_id = d.id), d.external_key
            FROM documents d
            WHERE d.staged_by IS NULL
            \(clause)
            """
        ) { statement in
            try statement.bind(values)
            var summaries: [DocumentSummary] = []
            while try statement.step() {
                summaries.append(DocumentSummary(
                    id: statement.int64(0),
                    title: statement.string(1),
                    source: statement.string(2),
                    sha256: statement.string(3),
                    bytes: statement.int(4),
                    createdAt: Date(timeIntervalSince1970: TimeInterval(statement.int64(5))),
                    referenceCount: statement.int(6),
                    externalKey: statement.isNull(7) ? nil : statement.string(7)
                ))
            }
            return summaries
        }
    }

    static func reference(from statement: any SQLStatement) -> StoredReference {
        StoredReference(
            id: statement.int64(0),
            documentId: statement.int64(1),
            ordinal: statement.int(2),
            text: statement.string(3),
            tokenCount: statement.int(4)
        )
    }
}
