import Foundation
import XCTest
@testable import MemoryStore

/// Creating, reopening, validating and migrating the store's file.
final class SchemaTests: XCTestCase {
    func testNewStoreCreatesTheSchemaInWALMode() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("store.sqlite")
        let store = try MemoryStore(path: path)
        XCTAssertEqual(try store.schemaVersion(), MemoryStore.currentSchemaVersion)
        store.close()

        let database = try Database(path: path, options: [.readOnly])
        defer { database.close() }
        let tables = Set(try database.strings("SELECT name FROM sqlite_schema WHERE type = 'table'"))
        for table in ["documents", "document_references", "memories", "settings", "reference_fts"] {
            XCTAssertTrue(tables.contains(table), "missing table \(table) in \(tables.sorted())")
        }
        XCTAssertEqual(try database.scalarString("PRAGMA journal_mode"), "wal")
        XCTAssertEqual(try database.scalarInt("PRAGMA user_version"), Int64(Schema.currentVersion))
        XCTAssertEqual(try database.scalarInt("PRAGMA application_id"), Int64(Schema.applicationID))
        XCTAssertEqual(try database.scalarInt("PRAGMA page_size"), Int64(MemoryStore.newStorePageSize))
    }

    /// Retrieval's statements read scattered rows of a large file through a memory map (see
    /// `MemoryStore.mmapBytes`): both kinds of connection ask for one, and reads stay right as the
    /// file grows past what was mapped at open (SQLite remaps; the reads would pass without a map too).
    func testStoresReadThroughAMemoryMapThatFollowsTheFileAsItGrows() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("store.sqlite")
        let store = try MemoryStore(path: path)
        // An SQLite built with a smaller SQLITE_MAX_MMAP_SIZE cuts the request down: more than 0 is the map.
        XCTAssertGreaterThan(try store.withDatabase { try $0.scalarInt("PRAGMA mmap_size") } ?? 0, 0)
        let first = try store.insertDocument(Fixture.document(sha256: "a", referenceCount: 2))
        let reader = try MemoryStore(path: path, readOnly: true)
        XCTAssertGreaterThan(try reader.withDatabase { try $0.scalarInt("PRAGMA mmap_size") } ?? 0, 0)
        XCTAssertEqual(try reader.document(id: first)?.references.count, 2)
        // Grow the file well past its size when both maps were made.
        let sizeBefore = try store.statistics().fileBytes
        var ids: [Int64] = []
        for i in 0 ..< 40 { ids.append(try store.insertDocument(Fixture.document(sha256: "b\(i)", referenceCount: 20))) }
        XCTAssertGreaterThan(try store.statistics().fileBytes, 4 * sizeBefore)
        // Into the file itself (not only the WAL), where the maps read.
        XCTAssertEqual(try store.withDatabase { try $0.scalarInt("PRAGMA wal_checkpoint(TRUNCATE)") }, 0, "the checkpoint was blocked")
        for id in ids {
            XCTAssertEqual(try store.document(id: id)?.references.count, 20)
            XCTAssertEqual(try reader.document(id: id)?.references.count, 20)
        }
    }

    func testReopeningKeepsDataAndDoesNotMigrateAgain() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("store.sqlite")
        let id: Int64
        do {
            let store = try MemoryStore(path: path)
            id = try store.insertDocument(Fixture.document(sha256: "a", referenceCount: 3))
            try store.setSetting("model.fingerprint", "abc")
        }
        let reopened = try MemoryStore(path: path)
        XCTAssertEqual(try reopened.schemaVersion(), MemoryStore.currentSchemaVersion)
        XCTAssertEqual(try reopened.document(id: id)?.references.count, 3)
        XCTAssertEqual(try reopened.setting("model.fingerprint"), "abc")
        XCTAssertEqual(try reopened.search("reference", limit: 10).count, 3)
    }

    /// The v1 schema exactly as the first release wrote it, by hand, with rows in it.
    private func makeVersion1Store(at path: String) throws {
        let database = try Database(path: path, options: [.readWrite, .create])
        defer { database.close() }
        try database.execute("""
            CREATE TABLE documents (
                id INTEGER PRIMARY KEY AUTOINCREMENT, title TEXT NOT NULL, source TEXT NOT NULL,
                sha256 TEXT NOT NULL UNIQUE, bytes INTEGER NOT NULL CHECK (bytes >= 0), created_at INTEGER NOT NULL);
            CREATE TABLE document_references (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
                ordinal INTEGER NOT NULL CHECK (ordinal >= 0), text TEXT NOT NULL,
                token_count INTEGER NOT NULL CHECK (token_count >= 0), UNIQUE (document_id, ordinal));
            CREATE TABLE memories (
                reference_id INTEGER NOT NULL REFERENCES document_references(id) ON DELETE CASCADE,
                profile TEXT NOT NULL, codec TEXT NOT NULL, blob BLOB NOT NULL,
                PRIMARY KEY (reference_id, profile));
            CREATE TABLE settings (key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL) WITHOUT ROWID;
            INSERT INTO documents VALUES (1, 'Old notes', 'notes.md', 'sha-old', 42, 1700000000);
            INSERT INTO document_references VALUES (1, 1, 0, 'The lighthouse keeper paints the tower red.', 9);
            INSERT INTO document_references VALUES (2, 1, 1, 'Seagulls nest on the cliffs every spring.', 8);
            INSERT INTO memories VALUES (1, 'dense', 'int8', x'0102');
            INSERT INTO settings VALUES ('model.fingerprint', 'v1-model');
            PRAGMA user_version = 1;
            PRAGMA application_id = \(Schema.applicationID);
            """)
    }

    func testVersion1StoreIsMigratedAndItsReferencesBecomeSearchable() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("v1.sqlite")
        try makeVersion1Store(at: path)

        let store = try MemoryStore(path: path)
        XCTAssertEqual(try store.schemaVersion(), MemoryStore.currentSchemaVersion)
        XCTAssertEqual(try store.setting("model.fingerprint"), "v1-model")
        let hits = try store.search("who paints the lighthouse?", limit: 5)
        XCTAssertEqual(hits.first?.referenceId, 1)
        XCTAssertEqual(try store.memoryBlob(referenceId: 1, profile: "dense")?.blob, [1, 2])
        XCTAssertEqual(try store.integrityProblems(), [])

        // The migrated store takes new documents, and their ids continue after the old ones.
        let id = try store.insertDocument(Fixture.document(sha256: "new", referenceCount: 1))
        XCTAssertEqual(id, 2)
        XCTAssertEqual(try store.documents().map(\.sha256), ["sha-old", "new"])
        XCTAssertTrue(try store.deleteDocument(id: 1))
        XCTAssertEqual(try store.search("lighthouse", limit: 5), [])
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testReadOnlyOpenOfAnOldStoreAsksForAMigration() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("v1.sqlite")
        try makeVersion1Store(at: path)
        XCTAssertThrowsStoreError(
            .migrationRequired(path: path, found: 1, required: Schema.currentVersion),
            try MemoryStore(path: path, readOnly: true)
        )
        XCTAssertEqual(try rawCount(path, "PRAGMA user_version"), 1, "a read-only open must not change the file")
    }

    func testStoreFromANewerVersionIsRefused() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("future.sqlite")
        _ = try MemoryStore(path: path)
        let database = try Database(path: path, options: [.readWrite])
        try database.execute("PRAGMA user_version = 99")
        database.close()
        XCTAssertThrowsStoreError(
            .schemaTooNew(path: path, found: 99, supported: Schema.currentVersion),
            try MemoryStore(path: path)
        )
    }

    func testForeignSQLiteDatabaseIsRefusedAndLeftUntouched() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("foreign.sqlite")
        let database = try Database(path: path, options: [.readWrite, .create])
        try database.execute("CREATE TABLE customers (name TEXT)")
        database.close()
        XCTAssertThrowsStoreError(try MemoryStore(path: path)) {
            if case .notAMemoryStore = $0 { return true } else { return false }
        }
        XCTAssertEqual(try rawCount(path, "SELECT count(*) FROM sqlite_schema"), 1)

        let other = directory.path("other-app.sqlite")
        let otherDatabase = try Database(path: other, options: [.readWrite, .create])
        try otherDatabase.execute("PRAGMA application_id = 1234")
        otherDatabase.close()
        XCTAssertThrowsStoreError(try MemoryStore(path: other)) {
            if case .notAMemoryStore = $0 { return true } else { return false }
        }
    }

    func testGarbageFileIsReportedAsCorrupt() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("garbage.sqlite")
        try Data(repeating: 0x41, count: 8192).write(to: URL(fileURLWithPath: path))
        for readOnly in [false, true] {
            XCTAssertThrowsStoreError(try MemoryStore(path: path, readOnly: readOnly)) {
                if case .corrupt = $0 { return true } else { return false }
            }
        }
    }

    func testReadOnlyOpenOfAMissingStoreSaysSoAndCreatesNothing() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("missing.sqlite")
        XCTAssertThrowsStoreError(.databaseNotFound(path: path), try MemoryStore(path: path, readOnly: true))
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
    }

    func testOpenInAMissingDirectoryFailsWithCannotOpen() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("no/such/dir/store.sqlite")
        XCTAssertThrowsStoreError(try MemoryStore(path: path)) {
            if case .cannotOpen = $0 { return true } else { return false }
        }
    }

    func testClosedStoreRefusesCalls() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("store.sqlite")
        let store = try MemoryStore(path: path)
        store.close()
        XCTAssertThrowsStoreError(.closed(path: path), try store.documents())
    }

    func testErrorMessagesNameTheProblem() {
        XCTAssertEqual(
            MemoryStoreError.duplicateDocument(existingId: 7).description,
            "a document with the same content (SHA-256) is already stored as document 7"
        )
        XCTAssertTrue(MemoryStoreError.readOnly(path: "/x.sqlite").localizedDescription.contains("read-only"))
        XCTAssertTrue(MemoryStoreError.schemaTooNew(path: "/x", found: 9, supported: 2).description.contains("upgrade memory3"))
    }
}
