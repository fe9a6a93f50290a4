// Dense embeddings of references (schema v6): written at ingest or by a backfill, read in bulk by
// an in-memory index, and the check that an index's candidates may be retrieved.

extension MemoryStore {
    /// Writes (or replaces) reference embeddings in one transaction. A replaced row gets a new row
    /// id, so that incremental readers see it.
    public func putEmbeddings(_ embeddings: [(referenceId: Int64, embedding: StoredEmbedding)]) throws(MemoryStoreError) {
        guard !embeddings.isEmpty else { return }
        try withDatabase(writing: true) { database in
            try database.transaction(.immediate) {
                for (referenceId, embedding) in embeddings {
                    try Self.putEmbedding(embedding, referenceId: referenceId, in: database)
                }
            }
        }
    }

    /// Delete then insert (not INSERT OR REPLACE, whose implied delete would not fire the count trigger).
    static func putEmbedding(_ embedding: StoredEmbedding, referenceId: Int64, in database: any SQLConnection) throws {
        try database.run("DELETE FROM reference_embeddings WHERE reference_id = ?", [.integer(referenceId)])
        let bytes = embedding.components.map { UInt8(bitPattern: $0) }
        try database.run("INSERT INTO reference_embeddings (reference_id, encoder, scale, vector) VALUES (?, ?, ?, ?)",
                         [.integer(referenceId), .text(embedding.encoder), .real(Double(embedding.scale)), .blob(bytes)])
    }

    /// Stored embeddings with row id above `after`, in row id order, at most `limit`; rows of
    /// every encoder (the caller keeps its own encoder's and counts the others).
    public func embeddingRows(after: Int64, limit: Int) throws(MemoryStoreError) -> [EmbeddingRow] {
        try withDatabase { database in
            try database.withStatement(
                "SELECT id, reference_id, encoder, scale, vector FROM reference_embeddings WHERE id > ? ORDER BY id LIMIT ?"
            ) { statement in
                try statement.bind(after, at: 1)
                try statement.bind(limit, at: 2)
                var rows: [EmbeddingRow] = []
                while try statement.step() {
                    let components = statement.blob(4).map { Int8(bitPattern: $0) }
                    rows.append(EmbeddingRow(rowId: statement.int64(0), referenceId: statement.int64(1),
                                             embedding: StoredEmbedding(encoder: statement.string(2), scale: Float(statement.double(3)),
                                                                        components: components)))
                }
                return rows
            }
        }
    }

    /// How many embeddings are stored (all encoders), from the kept counts: one small read.
    public func embeddingCount() throws(MemoryStoreError) -> Int {
        try withDatabase { database in
            Int(try database.scalarInt("SELECT value FROM store_counts WHERE name = 'embeddings'") ?? 0)
        }
    }

    /// References (staged ones included) without an embedding of `encoder`, oldest first, at most
    /// `limit`: what a backfill still has to embed.
    public func referencesWithoutEmbedding(encoder: String, limit: Int) throws(MemoryStoreError) -> [(id: Int64, text: String)] {
        try withDatabase { database in
            try database.withStatement(
                """
                SELECT r.id, r.text FROM document_references r
                LEFT JOIN reference_embeddings e ON e.reference_id = r.id AND e.encoder = ?1
                WHERE e.id IS NULL ORDER BY r.id LIMIT ?2
                """
            ) { statement in
                try statement.bind(encoder, at: 1)
                try statement.bind(limit, at: 2)
                var rows: [(id: Int64, text: String)] = []
                while try statement.step() { rows.append((id: statement.int64(0), text: statement.string(1))) }
                return rows
            }
        }
    }

    /// Of `referenceIds`, those that retrieval may return (their document is visible and, with
    /// `profile`, they have a memory of that profile), each with its document id.
    public func retrievableReferences(_ referenceIds: [Int64], profile: String?) throws(MemoryStoreError) -> [Int64: Int64] {
        guard !referenceIds.isEmpty else { return [:] }
        // One statement for all candidates (ids are the index's own integers, written into the SQL:
        // never user text), not one round trip per candidate.
        let ids = Set(referenceIds).sorted().map(String.init).joined(separator: ", ")
        let profileFilter = profile == nil ? "" : "AND EXISTS (SELECT 1 FROM memories m WHERE m.reference_id = r.id AND m.profile = ?)"
        return try withDatabase { database in
            try database.withStatement(
                """
                SELECT r.id, r.document_id FROM document_references r
                JOIN documents d ON d.id = r.document_id AND d.staged_by IS NULL
                WHERE r.id IN (\(ids)) \(profileFilter)
                """
            ) { statement in
                if let profile { try statement.bind(profile, at: 1) }
                var found: [Int64: Int64] = [:]
                while try statement.step() { found[statement.int64(0)] = statement.int64(1) }
                return found
            }
        }
    }
}
