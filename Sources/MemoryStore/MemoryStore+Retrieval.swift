// Reading for generation: full-text search over references, and their memory blobs.

extension MemoryStore {
    /// References matching any word of `text`, best first by BM25 (`score` = -bm25, higher is
    /// better), at most `limit`. References of documents still being ingested (staged) are not found. The text is never used as an FTS5 query expression (see
    /// `SearchQuery`); text without words returns no hits. With `profile`, only references that have
    /// a memory of that profile are returned.
    public func search(_ text: String, limit: Int, profile: String? = nil) throws(MemoryStoreError) -> [SearchHit] {
        guard limit > 0 else { return [] }
        var words = SearchQuery.words(in: text)
        let references = try counts().references
        if references > SearchQuery.pruneAbove {
            words = try withDatabase { database in
                try SearchQuery.pruned(words, references: references, cache: documentFrequencies) { word, cap in
                    // Counting stops past the cap: a common word's whole posting list is never read.
                    Int(try database.scalarInt("SELECT count(*) FROM (SELECT rowid FROM reference_fts WHERE reference_fts MATCH ? LIMIT ?)",
                                               [.text(SearchQuery.quoted(word)), .integer(Int64(cap))]) ?? 0)
                }
            }
        }
        guard !words.isEmpty else { return [] }
        let expression = words.map(SearchQuery.quoted).joined(separator: " OR ")
        let profileFilter = profile == nil ? "" : """
            AND EXISTS (SELECT 1 FROM memories m WHERE m.reference_id = r.id AND m.profile = ?3)
            """
        return try withDatabase { database in
            try database.withStatement(
                """
                SELECT r.id, r.document_id, bm25(reference_fts) AS rank_score
                FROM reference_fts JOIN document_references r ON r.id = reference_fts.rowid
                JOIN documents d ON d.id = r.document_id AND d.staged_by IS NULL
                WHERE reference_fts MATCH ?1 \(profileFilter)
                ORDER BY rank_score, r.id
                LIMIT ?2
                """
            ) { statement in
                try statement.bind(expression, at: 1)
                try statement.bind(limit, at: 2)
                if let profile { try statement.bind(profile, at: 3) }
                var hits: [SearchHit] = []
                while try statement.step() {
                    hits.append(SearchHit(referenceId: statement.int64(0), documentId: statement.int64(1), score: -statement.double(2)))
                }
                return hits
            }
        }
    }

    /// The memory of one reference under one profile, or nil when there is none.
    public func memoryBlob(referenceId: Int64, profile: String) throws(MemoryStoreError) -> (codec: String, blob: [UInt8])? {
        try withDatabase { database in
            try database.withStatement("SELECT codec, blob FROM memories WHERE reference_id = ? AND profile = ?") { statement in
                try statement.bind(referenceId, at: 1)
                try statement.bind(profile, at: 2)
                return try statement.step() ? (codec: statement.string(0), blob: statement.blob(1)) : nil
            }
        }
    }

    /// The memories of several references under one profile, read from one snapshot. References
    /// without a memory of that profile (or that do not exist) are absent from the result.
    public func memoryBlobs(referenceIds: [Int64], profile: String) throws(MemoryStoreError) -> [Int64: (codec: String, blob: [UInt8])] {
        guard !referenceIds.isEmpty else { return [:] }
        return try withDatabase { database in
            try database.transaction(.deferred) {
                try database.withStatement("SELECT codec, blob FROM memories WHERE reference_id = ? AND profile = ?") { statement in
                    var blobs: [Int64: (codec: String, blob: [UInt8])] = [:]
                    for referenceId in Set(referenceIds) {
                        try statement.bind(referenceId, at: 1)
                        try statement.bind(profile, at: 2)
                        if try statement.step() {
                            blobs[referenceId] = (codec: statement.string(0), blob: statement.blob(1))
                        }
                        statement.reset()
                    }
                    return blobs
                }
            }
        }
    }
}

extension MemoryStore {
    /// Merges the full-text index's segments into one (FTS5 `optimize`). Each batch of inserted
    /// references adds a segment, and a query looks every query word up in every segment, so a store
    /// filled in many small batches searches slower until merged.
    public func optimizeSearchIndex() throws(MemoryStoreError) {
        try withDatabase(writing: true) { database in
            try database.execute("INSERT INTO reference_fts(reference_fts) VALUES ('optimize')")
        }
    }
}
