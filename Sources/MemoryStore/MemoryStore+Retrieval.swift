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
        if dialect == .sqlite, references > indexedSearchAbove, !words.isEmpty,
           let hits = try indexedSearch(words, limit: limit, profile: profile) {
            return hits
        }
        if references > SearchQuery.pruneAbove {
            words = try withDatabase { database in
                try SearchQuery.pruned(words, references: references, cache: documentFrequencies) { uncounted, cap in
                    try Self.documentFrequencies(of: uncounted, cap: cap, in: database)
                }
            }
        }
        guard !words.isEmpty else { return [] }
        return try withDatabase { database in
            let expression = SearchQuery.expression(words, for: database.dialect)
            return try database.withStatement(Self.searchQuery(database.dialect, profile: profile != nil)) { statement in
                try statement.bind(expression, at: 1)
                try statement.bind(limit, at: 2)
                if let profile { try statement.bind(profile, at: 3) }
                var hits: [SearchHit] = []
                while try statement.step() {
                    hits.append(SearchHit(referenceId: statement.int64(0), documentId: statement.int64(1), score: statement.double(2)))
                }
                return hits
            }
        }
    }

    /// `search` through the in-memory index: every word of the query, FTS5's ranking (see
    /// `LexicalIndex.search`). Nil when the index cannot answer: it is being built (by
    /// `prepareSearchIndex` on another thread), or a word FTS5 splits in several tokens makes a
    /// phrase, which needs positions. FTS5 answers those.
    private func indexedSearch(_ words: [String], limit: Int, profile: String?) throws(MemoryStoreError) -> [SearchHit]? {
        var wanted = limit + 8
        while true {
            let ranked: [(referenceId: Int64, score: Double)]?? = try withLexicalIndex { index in
                index.phrases(words).map { index.search($0, limit: wanted) }
            }
            guard let ranked, let ranked else { return nil }
            // Staged documents, deleted references and other profiles are in the index: filtered
            // here, asking for more when too many of the best were filtered out.
            let allowed = try retrievableReferences(ranked.map(\.referenceId), profile: profile)
            let hits = ranked.compactMap { hit in
                allowed[hit.referenceId].map { SearchHit(referenceId: hit.referenceId, documentId: $0, score: hit.score) }
            }
            if hits.count >= limit || ranked.count < wanted { return Array(hits.prefix(limit)) }
            wanted *= 4
        }
    }

    /// Runs `body` with the lexical index brought up to date with the store; the first call builds
    /// it (outside the index lock: the store stays usable meanwhile). Nil while another thread
    /// builds it.
    func withLexicalIndex<T>(_ body: (LexicalIndex) throws(MemoryStoreError) -> T) throws(MemoryStoreError) -> T? {
        indexLock.lock()
        if let index = lexicalIndex {
            defer { indexLock.unlock() }
            try refresh(index)
            return try body(index)
        }
        guard !indexBuilding else {
            indexLock.unlock()
            return nil
        }
        indexBuilding = true
        indexLock.unlock()
        defer { indexLock.withLock { indexBuilding = false } }
        let fresh: LexicalIndex
        do { fresh = try LexicalIndex() } catch { throw MemoryStoreError.sqlite(path: path, error) }
        try appendNewReferences(to: fresh)
        indexLock.lock()
        defer { indexLock.unlock() }
        lexicalIndex = fresh
        try refresh(fresh)
        return try body(fresh)
    }

    /// Adds the references written since the index last looked, 10,000 per read (each read its
    /// own statement: writers are not held up by a long build).
    private func appendNewReferences(to index: LexicalIndex) throws(MemoryStoreError) {
        while true {
            let rows = try withDatabase { database in
                try database.withStatement("SELECT id, text FROM document_references WHERE id > ? ORDER BY id LIMIT 10000") { statement in
                    try statement.bind(index.lastRowId, at: 1)
                    var rows: [(Int64, String)] = []
                    while try statement.step() { rows.append((statement.int64(0), statement.string(1))) }
                    return rows
                }
            }
            guard !rows.isEmpty else { return }
            for (id, text) in rows { index.add(referenceId: id, text: text) }
        }
    }

    /// Brings the index up to date: new references appended; when the store then holds another
    /// number of references than the index, some were deleted, and it is built again.
    private func refresh(_ index: LexicalIndex) throws(MemoryStoreError) {
        for attempt in 0 ..< 2 {
            try appendNewReferences(to: index)
            // The count and the rows after the last one seen, from one snapshot.
            let (stored, newer) = try withDatabase { database in
                try database.transaction(.deferred) {
                    (Int(try database.scalarInt("SELECT value FROM store_counts WHERE name = 'references'") ?? 0),
                     Int(try database.scalarInt("SELECT count(*) FROM document_references WHERE id > ?", [.integer(index.lastRowId)]) ?? 0))
                }
            }
            if stored == index.count + newer || attempt == 1 { return }
            index.clear()
        }
    }

    /// Memory the in-memory search index holds (roughly), or nil when there is none.
    public var searchIndexBytes: Int? { indexLock.withLock { lexicalIndex?.approximateBytes } }

    /// Builds (or brings up to date) the in-memory search index now, so that no search of a large
    /// store waits for it (the server calls this in the background at start; searches meanwhile
    /// go to FTS5). Does nothing for stores that FTS5 searches alone. Returns whether it built.
    @discardableResult
    public func prepareSearchIndex() throws(MemoryStoreError) -> Bool {
        guard dialect == .sqlite, try counts().references > indexedSearchAbove else { return false }
        return try withLexicalIndex { _ in } != nil
    }

    /// How many references hold each word, counting no further than `cap`: a common word's whole
    /// posting list is never read. SQLite counts word by word (in process, microseconds each);
    /// PostgreSQL counts them all in one statement (one round trip, not one per word).
    private static func documentFrequencies(of words: [String], cap: Int, in database: any SQLConnection) throws -> [Int] {
        switch database.dialect {
        case .sqlite:
            return try words.map { word in
                Int(try database.scalarInt("SELECT count(*) FROM (SELECT rowid FROM reference_fts WHERE reference_fts MATCH ? LIMIT ?)",
                                           [.text(SearchQuery.quoted(word)), .integer(Int64(cap))]) ?? 0)
            }
        case .postgres:
            // The words travel as one text, split by the server: no word is ever SQL.
            return try database.withStatement(
                """
                SELECT (SELECT count(*) FROM (SELECT 1 FROM document_references
                        WHERE search @@ to_tsquery('memory3_english', quote_literal(w.word)) LIMIT ?2) AS hits)
                FROM unnest(string_to_array(?1, ' ')) WITH ORDINALITY AS w(word, position) ORDER BY w.position
                """
            ) { statement in
                try statement.bind(words.joined(separator: " "), at: 1)
                try statement.bind(cap, at: 2)
                var counts: [Int] = []
                while try statement.step() { counts.append(statement.int(0)) }
                return counts
            }
        }
    }

    /// Visible references matching ?1, best first (score: higher is better), at most ?2; with a
    /// profile, only those with a memory of profile ?3. SQLite ranks by BM25 (score = -bm25);
    /// PostgreSQL has no BM25 and ranks by `ts_rank` (term frequency, no IDF).
    private static func searchQuery(_ dialect: SQLDialect, profile: Bool) -> String {
        let profileFilter = profile ? "AND EXISTS (SELECT 1 FROM memories m WHERE m.reference_id = r.id AND m.profile = ?3)" : ""
        switch dialect {
        case .sqlite:
            return """
                SELECT r.id, r.document_id, -bm25(reference_fts) AS score
                FROM reference_fts JOIN document_references r ON r.id = reference_fts.rowid
                JOIN documents d ON d.id = r.document_id AND d.staged_by IS NULL
                WHERE reference_fts MATCH ?1 \(profileFilter)
                ORDER BY score DESC, r.id
                LIMIT ?2
                """
        case .postgres:
            return """
                SELECT r.id, r.document_id, ts_rank(r.search, q.query) AS score
                FROM to_tsquery('memory3_english', ?1) AS q(query), document_references r
                JOIN documents d ON d.id = r.document_id AND d.staged_by IS NULL
                WHERE r.search @@ q.query \(profileFilter)
                ORDER BY score DESC, r.id
                LIMIT ?2
                """
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
    /// On PostgreSQL the GIN index merges its pending list by itself; this refreshes the planner's
    /// statistics instead.
    public func optimizeSearchIndex() throws(MemoryStoreError) {
        try withDatabase(writing: true) { database in
            switch database.dialect {
            case .sqlite: try database.execute("INSERT INTO reference_fts(reference_fts) VALUES ('optimize')")
            case .postgres: try database.execute("ANALYZE document_references")
            }
        }
    }
}
