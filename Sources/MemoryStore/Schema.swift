/// The store's schema as a list of forward migrations. Migration `n` (1-based) takes a database from
/// `PRAGMA user_version = n - 1` to `n`; all pending ones run in one `BEGIN IMMEDIATE` transaction,
/// so a database is never left between versions. Never edit a shipped step: append a new one.
///
/// The references table is named `document_references` (REFERENCES is an SQL keyword).
/// Documents and references use AUTOINCREMENT so that an id is never reused after a delete: caches
/// of decoded memories are keyed by reference id and must never serve another reference's KV.
/// `memories` keeps its rowid: its rows are large blobs, which WITHOUT ROWID tables handle badly.
enum Schema {
    /// `PRAGMA application_id`: marks a file as a memory3 store ("M3ms").
    static let applicationID: Int32 = 0x4D33_6D73

    static var currentVersion: Int { migrations.count }

    static let migrations: [[String]] = [
        // v1: documents, references, encoded memories, settings.
        [
            """
            CREATE TABLE documents (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                title TEXT NOT NULL,
                source TEXT NOT NULL,
                sha256 TEXT NOT NULL UNIQUE,
                bytes INTEGER NOT NULL CHECK (bytes >= 0),
                created_at INTEGER NOT NULL
            )
            """,
            """
            CREATE TABLE document_references (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                ordinal INTEGER NOT NULL CHECK (ordinal >= 0),
                text TEXT NOT NULL,
                token_count INTEGER NOT NULL CHECK (token_count >= 0),
                UNIQUE (document_id, ordinal)
            )
            """,
            """
            CREATE TABLE memories (
                reference_id INTEGER NOT NULL REFERENCES document_references(id) ON DELETE CASCADE,
                profile TEXT NOT NULL,
                codec TEXT NOT NULL,
                blob BLOB NOT NULL,
                PRIMARY KEY (reference_id, profile)
            )
            """,
            """
            CREATE TABLE settings (
                key TEXT PRIMARY KEY NOT NULL,
                value TEXT NOT NULL
            ) WITHOUT ROWID
            """,
        ],
        // v2: full-text index over reference text for BM25 retrieval. External content (the text
        // lives once, in document_references), kept in step by triggers, which also fire for rows
        // removed by ON DELETE CASCADE. `rebuild` indexes references written before v2.
        [
            """
            CREATE VIRTUAL TABLE reference_fts USING fts5(
                text,
                content = 'document_references',
                content_rowid = 'id',
                tokenize = 'porter unicode61 remove_diacritics 2'
            )
            """,
            """
            CREATE TRIGGER document_references_fts_insert AFTER INSERT ON document_references BEGIN
                INSERT INTO reference_fts(rowid, text) VALUES (new.id, new.text);
            END
            """,
            """
            CREATE TRIGGER document_references_fts_delete AFTER DELETE ON document_references BEGIN
                INSERT INTO reference_fts(reference_fts, rowid, text) VALUES ('delete', old.id, old.text);
            END
            """,
            """
            CREATE TRIGGER document_references_fts_update AFTER UPDATE OF text ON document_references BEGIN
                INSERT INTO reference_fts(reference_fts, rowid, text) VALUES ('delete', old.id, old.text);
                INSERT INTO reference_fts(rowid, text) VALUES (new.id, new.text);
            END
            """,
            "INSERT INTO reference_fts(reference_fts) VALUES ('rebuild')",
        ],
        // v3: durable ingestion. An accepted upload is a row of `ingestions` (its bytes included)
        // before the client hears 202; its references are committed in small batches under a
        // *staged* document (`staged_by` = the ingestion id, hidden from listing and retrieval),
        // which becomes visible, or replaces the document with the same `external_key`, in one
        // transaction at the end. A staged document's sha256 is a placeholder ('staged:<id>')
        // until then, so that the UNIQUE content hash only ever holds visible documents.
        [
            "ALTER TABLE documents ADD COLUMN external_key TEXT",
            "ALTER TABLE documents ADD COLUMN staged_by TEXT",
            """
            CREATE UNIQUE INDEX documents_external_key ON documents(external_key)
            WHERE external_key IS NOT NULL AND staged_by IS NULL
            """,
            "CREATE INDEX documents_staged_by ON documents(staged_by) WHERE staged_by IS NOT NULL",
            """
            CREATE TABLE ingestions (
                id TEXT PRIMARY KEY NOT NULL,
                external_key TEXT,
                title TEXT NOT NULL,
                source TEXT NOT NULL,
                format TEXT NOT NULL,
                content BLOB,
                sha256 TEXT NOT NULL,
                bytes INTEGER NOT NULL CHECK (bytes >= 0),
                replacing INTEGER,
                state TEXT NOT NULL CHECK (state IN ('queued', 'encoding', 'ready', 'skipped', 'failed', 'cancelled')),
                references_total INTEGER,
                references_done INTEGER NOT NULL DEFAULT 0,
                document_id INTEGER,
                error TEXT,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL
            )
            """,
            "CREATE INDEX ingestions_state ON ingestions(state, created_at)",
        ],
        // v4: counts kept on write, so that reading them (every /metrics scrape) costs one row, not
        // a scan of every memory blob. Triggers keep them exact, also through ON DELETE CASCADE;
        // `documents` counts visible documents only (a staged one counts when it becomes visible).
        [
            "CREATE TABLE store_counts (name TEXT PRIMARY KEY NOT NULL, value INTEGER NOT NULL) WITHOUT ROWID",
            """
            INSERT INTO store_counts (name, value) VALUES
                ('documents', (SELECT count(*) FROM documents WHERE staged_by IS NULL)),
                ('references', (SELECT count(*) FROM document_references)),
                ('tokens', (SELECT coalesce(sum(token_count), 0) FROM document_references)),
                ('memories', (SELECT count(*) FROM memories)),
                ('memory_bytes', (SELECT coalesce(sum(length(blob)), 0) FROM memories))
            """,
            """
            CREATE TRIGGER documents_count_insert AFTER INSERT ON documents WHEN new.staged_by IS NULL BEGIN
                UPDATE store_counts SET value = value + 1 WHERE name = 'documents';
            END
            """,
            """
            CREATE TRIGGER documents_count_delete AFTER DELETE ON documents WHEN old.staged_by IS NULL BEGIN
                UPDATE store_counts SET value = value - 1 WHERE name = 'documents';
            END
            """,
            """
            CREATE TRIGGER documents_count_unstage AFTER UPDATE OF staged_by ON documents
            WHEN old.staged_by IS NOT NULL AND new.staged_by IS NULL BEGIN
                UPDATE store_counts SET value = value + 1 WHERE name = 'documents';
            END
            """,
            """
            CREATE TRIGGER references_count_insert AFTER INSERT ON document_references BEGIN
                UPDATE store_counts SET value = value + 1 WHERE name = 'references';
                UPDATE store_counts SET value = value + new.token_count WHERE name = 'tokens';
            END
            """,
            """
            CREATE TRIGGER references_count_delete AFTER DELETE ON document_references BEGIN
                UPDATE store_counts SET value = value - 1 WHERE name = 'references';
                UPDATE store_counts SET value = value - old.token_count WHERE name = 'tokens';
            END
            """,
            """
            CREATE TRIGGER memories_count_insert AFTER INSERT ON memories BEGIN
                UPDATE store_counts SET value = value + 1 WHERE name = 'memories';
                UPDATE store_counts SET value = value + length(new.blob) WHERE name = 'memory_bytes';
            END
            """,
            """
            CREATE TRIGGER memories_count_delete AFTER DELETE ON memories BEGIN
                UPDATE store_counts SET value = value - 1 WHERE name = 'memories';
                UPDATE store_counts SET value = value - length(old.blob) WHERE name = 'memory_bytes';
            END
            """,
            """
            CREATE TRIGGER memories_count_update AFTER UPDATE OF blob ON memories BEGIN
                UPDATE store_counts SET value = value + length(new.blob) - length(old.blob) WHERE name = 'memory_bytes';
            END
            """,
        ],
        // v5: who runs a pending ingestion. Several processes may share a store (a server and a
        // `memory3 ingest`, two servers): each ingestion is carried by one owner at a time, which
        // renews `heartbeat` at every commit; another process takes it over only when the owner's
        // process is gone (same host) or its heartbeat is stale.
        [
            "ALTER TABLE ingestions ADD COLUMN owner TEXT",
            "ALTER TABLE ingestions ADD COLUMN heartbeat REAL",
        ],
        // v6: one dense embedding per reference, for dense and hybrid retrieval: int8 components
        // times `scale` (a unit vector, so a dot product is a cosine), written by `encoder` (vectors
        // of another encoder are never compared with this one's). `id` grows with every write (a
        // re-embedded reference gets a new row), so that a reader's in-memory index picks up new
        // rows by `id > last`; the kept count tells it when rows went away (reload).
        [
            """
            CREATE TABLE reference_embeddings (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                reference_id INTEGER NOT NULL UNIQUE REFERENCES document_references(id) ON DELETE CASCADE,
                encoder TEXT NOT NULL,
                scale REAL NOT NULL,
                vector BLOB NOT NULL
            )
            """,
            "INSERT INTO store_counts (name, value) VALUES ('embeddings', 0)",
            """
            CREATE TRIGGER embeddings_count_insert AFTER INSERT ON reference_embeddings BEGIN
                UPDATE store_counts SET value = value + 1 WHERE name = 'embeddings';
            END
            """,
            """
            CREATE TRIGGER embeddings_count_delete AFTER DELETE ON reference_embeddings BEGIN
                UPDATE store_counts SET value = value - 1 WHERE name = 'embeddings';
            END
            """,
        ],
    ]
}
