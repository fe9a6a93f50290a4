import Foundation
import XCTest
@testable import MemoryStore

/// The store's side of durable ingestion: rows before encoding, staged references hidden until the
/// swap, replacement under a key or an id, cancel and supersede leaving nothing behind.
class IngestionStoreTests: StoreBackendTestCase {
    func reference(_ ordinal: Int, _ text: String) -> NewReference {
        NewReference(ordinal: ordinal, text: text, tokenCount: 4,
                     memories: [NewMemory(profile: "dense", codec: "int8", blob: [UInt8](repeating: UInt8(ordinal), count: 64))])
    }

    func ingestion(_ id: String, key: String? = nil, text: String, replacing: Int64? = nil) -> NewIngestion {
        NewIngestion(id: id, externalKey: key, title: id, source: "test", format: "plain", content: Array(text.utf8),
                     sha256: "sha-of-" + text, replacing: replacing)
    }

    /// Encodes `texts` as the references of ingestion `id` in batches of two and completes it.
    func encode(_ store: MemoryStore, _ id: String, _ texts: [String]) throws -> IngestionRecord {
        _ = try store.beginEncoding(ingestion: id, referencesTotal: texts.count)
        for start in stride(from: 0, to: texts.count, by: 2) {
            let batch = (start ..< min(start + 2, texts.count)).map { reference($0, texts[$0]) }
            try store.appendReferences(ingestion: id, batch, referencesDone: start + batch.count)
        }
        return try store.completeIngestion(id: id)
    }

    func testStagedReferencesStayHiddenUntilTheDocumentIsComplete() throws {
        let directory = try TemporaryDirectory()
        let store = try openStore(directory, "kb.sqlite")
        let recorded = try store.addIngestions([ingestion("ing_a", text: "whales and krill")])
        XCTAssertEqual(recorded.map(\.state), [.queued])
        XCTAssertEqual(try store.ingestionContent(id: "ing_a"), Array("whales and krill".utf8))
        XCTAssertEqual(try store.pendingIngestionCount(), 1)

        let staged = try store.beginEncoding(ingestion: "ing_a", referencesTotal: 3)
        XCTAssertEqual(try store.beginEncoding(ingestion: "ing_a", referencesTotal: 3), staged, "a resumed ingestion keeps its staged document")
        try store.appendReferences(ingestion: "ing_a", [reference(0, "whales sing"), reference(1, "krill swarm")], referencesDone: 2)
        XCTAssertEqual(try store.documents().count, 0)
        XCTAssertNil(try store.document(id: staged))
        XCTAssertTrue(try store.search("whales", limit: 5).isEmpty, "retrieval must not see a half-ingested document")
        XCTAssertEqual(try store.statistics().documents, 0)
        XCTAssertFalse(try store.deleteDocument(id: staged), "a staged document is not deletable as a document")
        XCTAssertEqual(try store.ingestion(id: "ing_a")?.referencesDone, 2)

        try store.appendReferences(ingestion: "ing_a", [reference(2, "plankton bloom")], referencesDone: 3)
        let done = try store.completeIngestion(id: "ing_a")
        XCTAssertEqual(done.state, .ready)
        XCTAssertNil(try store.ingestionContent(id: "ing_a"), "the bytes are dropped once the document is stored")
        let document = try XCTUnwrap(try store.document(id: try XCTUnwrap(done.documentId)))
        XCTAssertEqual(document.summary.sha256, "sha-of-whales and krill")
        XCTAssertEqual(document.references.map(\.text), ["whales sing", "krill swarm", "plankton bloom"])
        XCTAssertEqual(try store.search("whales", limit: 5).map(\.documentId), [document.summary.id])
        XCTAssertEqual(try store.pendingIngestionCount(), 0)
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testTheSameKeyReplacesTheDocumentAndKeepsItsID() throws {
        let directory = try TemporaryDirectory()
        let store = try openStore(directory, "kb.sqlite")
        try store.addIngestions([ingestion("ing_1", key: "notes.md", text: "v1")])
        let first = try encode(store, "ing_1", ["old apples", "old pears"])
        let id = try XCTUnwrap(first.documentId)

        try store.addIngestions([ingestion("ing_2", key: "notes.md", text: "v2")])
        let second = try encode(store, "ing_2", ["new cherries"])
        XCTAssertEqual(second.state, .ready)
        XCTAssertEqual(second.documentId, id)
        XCTAssertEqual(try store.documents().map(\.id), [id])
        XCTAssertEqual(try store.document(id: id)?.references.map(\.text), ["new cherries"])
        XCTAssertEqual(try store.document(externalKey: "notes.md")?.sha256, "sha-of-v2")
        XCTAssertTrue(try store.search("apples", limit: 5).isEmpty)
        XCTAssertEqual(try store.statistics().memories, 1, "the old memories go with the old references")

        // The same content under another key is a duplicate: skipped, pointing at the holder.
        try store.addIngestions([ingestion("ing_3", key: "copy.md", text: "v2")])
        let third = try encode(store, "ing_3", ["new cherries"])
        XCTAssertEqual(third.state, .skipped)
        XCTAssertEqual(third.documentId, id)
        XCTAssertEqual(try store.statistics().references, 1, "a skipped ingestion's staged references go")

        // By id (PUT), and refused when the document went meanwhile.
        try store.addIngestions([ingestion("ing_4", text: "v3", replacing: id)])
        XCTAssertEqual(try encode(store, "ing_4", ["plums"]).documentId, id)
        try store.addIngestions([ingestion("ing_5", text: "v4", replacing: id)])
        XCTAssertTrue(try store.deleteDocument(id: id))
        let orphan = try encode(store, "ing_5", ["figs"])
        XCTAssertEqual(orphan.state, .failed)
        XCTAssertEqual(try store.statistics().references, 0)
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testCountsFollowEveryWriteStagedDocumentsIncludedOnlyWhenVisible() throws {
        let directory = try TemporaryDirectory()
        let store = try openStore(directory, "kb.sqlite")
        try store.addIngestions([ingestion("ing_1", key: "a", text: "one")])
        _ = try store.beginEncoding(ingestion: "ing_1", referencesTotal: 2)
        try store.appendReferences(ingestion: "ing_1", [reference(0, "x"), reference(1, "y")], referencesDone: 2)
        XCTAssertEqual(try store.counts(), StoreCounts(documents: 0, references: 2, tokens: 8, memories: 2, memoryBytes: 128))
        _ = try store.completeIngestion(id: "ing_1")
        XCTAssertEqual(try store.counts().documents, 1)
        try store.addIngestions([ingestion("ing_2", key: "a", text: "two")])
        _ = try encode(store, "ing_2", ["z"])
        XCTAssertEqual(try store.counts(), StoreCounts(documents: 1, references: 1, tokens: 4, memories: 1, memoryBytes: 64))
        try store.upsertMemories([try XCTUnwrap(try store.documents().first.flatMap { try store.document(id: $0.id) }?.references.first?.id):
                                    [NewMemory(profile: "dense", codec: "int8", blob: [1, 2, 3])]])
        XCTAssertEqual(try store.counts().memoryBytes, 3)
        XCTAssertTrue(try store.deleteDocument(id: try XCTUnwrap(try store.documents().first?.id)))
        XCTAssertEqual(try store.counts(), StoreCounts(documents: 0, references: 0, tokens: 0, memories: 0, memoryBytes: 0))
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testCancelAndSupersedeLeaveNothingAndStopLaterWrites() throws {
        let directory = try TemporaryDirectory()
        let store = try openStore(directory, "kb.sqlite")
        try store.addIngestions([ingestion("ing_a", key: "k", text: "first")])
        _ = try store.beginEncoding(ingestion: "ing_a", referencesTotal: 4)
        try store.appendReferences(ingestion: "ing_a", [reference(0, "alpha")], referencesDone: 1)

        // A newer upload of the same key cancels the pending one.
        try store.addIngestions([ingestion("ing_b", key: "k", text: "second")])
        XCTAssertEqual(try store.ingestion(id: "ing_a")?.state, .cancelled)
        XCTAssertThrowsError(try store.appendReferences(ingestion: "ing_a", [reference(1, "beta")], referencesDone: 2)) {
            XCTAssertEqual($0 as? MemoryStoreError, .ingestionNotPending(id: "ing_a"))
        }
        XCTAssertEqual(try store.statistics().references, 0)

        XCTAssertTrue(try store.endIngestion(id: "ing_b", state: .cancelled, error: "cancelled"))
        XCTAssertFalse(try store.endIngestion(id: "ing_b", state: .cancelled, error: "again"), "only a pending ingestion ends")
        XCTAssertThrowsError(try store.beginEncoding(ingestion: "ing_b", referencesTotal: 1))
        XCTAssertEqual(try store.ingestions(states: [.cancelled]).map(\.id), ["ing_a", "ing_b"])
        XCTAssertEqual(try store.ingestions(states: [.queued, .encoding]).count, 0)
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testOneOwnerCarriesAnIngestionUntilItIsGoneOrStale() throws {
        let directory = try TemporaryDirectory()
        let store = try openStore(directory, "kb.sqlite")
        var new = ingestion("ing_o", text: "owned")
        new.owner = "host:1:a"
        try store.addIngestions([new])
        let alive: (String) -> Bool = { _ in true }
        XCTAssertTrue(try store.claimIngestion(id: "ing_o", owner: "host:1:a", staleAfter: 60, isAlive: alive), "its own")
        XCTAssertFalse(try store.claimIngestion(id: "ing_o", owner: "host:2:b", staleAfter: 60, isAlive: alive), "a live, fresh owner keeps it")
        XCTAssertTrue(try store.claimIngestion(id: "ing_o", owner: "host:2:b", staleAfter: 60, isAlive: { _ in false }), "a dead owner's is taken over")
        XCTAssertEqual(try store.ingestion(id: "ing_o")?.owner, "host:2:b")

        // The first owner's writes are refused from then on; the new owner's go through.
        XCTAssertThrowsError(try store.beginEncoding(ingestion: "ing_o", referencesTotal: 1, owner: "host:1:a")) {
            guard case .ingestionHeldElsewhere = $0 as? MemoryStoreError else { return XCTFail("\($0)") }
        }
        _ = try store.beginEncoding(ingestion: "ing_o", referencesTotal: 1, owner: "host:2:b")
        try store.appendReferences(ingestion: "ing_o", [reference(0, "x")], referencesDone: 1, owner: "host:2:b")
        // A stale heartbeat (older than staleAfter) lets a live owner's ingestion go too.
        XCTAssertTrue(try store.claimIngestion(id: "ing_o", owner: "host:3:c", staleAfter: 0, isAlive: alive))
        XCTAssertThrowsError(try store.completeIngestion(id: "ing_o", owner: "host:2:b"))
        XCTAssertEqual(try store.completeIngestion(id: "ing_o", owner: "host:3:c").state, .ready)
        XCTAssertFalse(try store.claimIngestion(id: "ing_o", owner: "host:3:c", staleAfter: 60), "a finished ingestion is nobody's to claim")

        XCTAssertTrue(IngestionOwner.isAlive(IngestionOwner.current))
        XCTAssertTrue(IngestionOwner.isAlive("another-host:1:x"), "other hosts' owners are presumed alive")
        let host = IngestionOwner.current.split(separator: ":")[0]
        XCTAssertFalse(IngestionOwner.isAlive("\(host):999999999:x"), "no such process on this host")
        // This pid with another nonce: a restarted container's earlier process when its heartbeat
        // predates this process, else a live replica misconfigured with the same host name.
        let earlier = "\(host):\(getpid()):earlier"
        XCTAssertTrue(IngestionOwner.isEarlierProcess(earlier, heartbeat: IngestionOwner.processStarted.addingTimeInterval(-1)))
        XCTAssertFalse(IngestionOwner.isEarlierProcess(earlier, heartbeat: Date()))
        XCTAssertFalse(IngestionOwner.isEarlierProcess(IngestionOwner.current, heartbeat: .distantPast), "this process is not its own predecessor")
        var restarted = ingestion("ing_r", text: "restarted")
        restarted.owner = earlier
        try store.addIngestions([restarted])
        XCTAssertFalse(try store.claimIngestion(id: "ing_r", owner: "\(host):1:other", staleAfter: 60),
                       "heartbeat at upload, after this process started: presumed a live replica")
    }

    func testAStoppingOwnerHandsItsPendingIngestionsBack() throws {
        let directory = try TemporaryDirectory()
        let store = try openStore(directory, "kb.sqlite")
        var mine = ingestion("ing_m", text: "mine")
        mine.owner = "host:1:a"
        var theirs = ingestion("ing_t", text: "theirs")
        theirs.owner = "host:2:b"
        try store.addIngestions([mine, theirs])
        _ = try store.beginEncoding(ingestion: "ing_m", referencesTotal: 2, owner: "host:1:a")
        try store.appendReferences(ingestion: "ing_m", [reference(0, "first")], referencesDone: 1, owner: "host:1:a")
        XCTAssertEqual(try store.releaseIngestions(owner: "host:1:a"), 1)
        XCTAssertNil(try store.ingestion(id: "ing_m")?.owner)
        XCTAssertEqual(try store.ingestion(id: "ing_t")?.owner, "host:2:b", "another owner's stay")
        // Anyone takes it over at once, and goes on after the committed reference.
        XCTAssertTrue(try store.claimIngestion(id: "ing_m", owner: "host:3:c", staleAfter: 60, isAlive: { _ in true }))
        XCTAssertEqual(try store.ingestion(id: "ing_m")?.referencesDone, 1)
        try store.appendReferences(ingestion: "ing_m", [reference(1, "second")], referencesDone: 2, owner: "host:3:c")
        XCTAssertEqual(try store.completeIngestion(id: "ing_m", owner: "host:3:c").state, .ready)
        XCTAssertEqual(try store.releaseIngestions(owner: "host:3:c"), 0, "a finished ingestion is not handed back")
    }

    func testAVersion2StoreMigratesAndKeepsItsDocuments() throws {
        try XCTSkipIf(backend == .postgres, "SQLite's schema history (PostgreSQL stores start at the current schema)")
        let directory = try TemporaryDirectory()
        let path = directory.path("kb.sqlite")
        let store = try MemoryStore(path: path)
        let id = try store.insertDocument(NewDocument(title: "t", source: "s", sha256: "abc", bytes: 3, references: [reference(0, "old text")]))
        store.close()
        // Back to version 2: the v3 to v6 objects removed, as a store written by an earlier release.
        let database = try Database(path: path, options: [.readWrite], busyTimeoutMilliseconds: 1000)
        for trigger in try database.strings("SELECT name FROM sqlite_schema WHERE type = 'trigger' AND name LIKE '%count%'") {
            try database.execute("DROP TRIGGER \(trigger)")
        }
        try database.execute("DROP TABLE store_counts")
        try database.execute("DROP TABLE reference_embeddings")
        try database.execute("DROP TABLE ingestions")
        try database.execute("DROP INDEX documents_external_key")
        try database.execute("DROP INDEX documents_staged_by")
        try database.execute("ALTER TABLE documents DROP COLUMN external_key")
        try database.execute("ALTER TABLE documents DROP COLUMN staged_by")
        try database.execute("PRAGMA user_version = 2")
        database.close()

        let migrated = try MemoryStore(path: path)
        XCTAssertEqual(try migrated.schemaVersion(), MemoryStore.currentSchemaVersion)
        XCTAssertEqual(try migrated.documents().map(\.id), [id])
        XCTAssertEqual(try migrated.search("old", limit: 5).map(\.documentId), [id])
        XCTAssertEqual(try migrated.counts(), StoreCounts(documents: 1, references: 1, tokens: 4, memories: 1, memoryBytes: 64),
                       "the counts start from what the store held")
        XCTAssertEqual(try migrated.integrityProblems(), [])
    }
}

