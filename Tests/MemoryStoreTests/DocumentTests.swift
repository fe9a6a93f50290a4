import Foundation
import XCTest
@testable import MemoryStore

/// Writing, reading, replacing and deleting documents, references and memories.
class DocumentTests: StoreBackendTestCase {
    private var directory: TemporaryDirectory!
    private var path: String!
    private var store: MemoryStore!

    override func setUpWithError() throws {
        directory = try TemporaryDirectory(name)
        path = try storeLocation(directory, "store.sqlite")
        store = try MemoryStore(path: path)
    }

    override func tearDown() {
        store = nil
        directory = nil
    }

    private func count(_ table: String) throws -> Int64 {
        try rawCount(path, "SELECT count(*) FROM \(table)")
    }

    func testInsertedDocumentReadsBackWithReferencesAndMemories() throws {
        let before = Date(timeIntervalSince1970: Date().timeIntervalSince1970.rounded(.down))
        let new = Fixture.document(sha256: "sha-1", title: "Notes", referenceCount: 4)
        let id = try store.insertDocument(new)

        let detail = try XCTUnwrap(try store.document(id: id))
        XCTAssertEqual(detail.summary.id, id)
        XCTAssertEqual(detail.summary.title, "Notes")
        XCTAssertEqual(detail.summary.source, "refs=4")
        XCTAssertEqual(detail.summary.sha256, "sha-1")
        XCTAssertEqual(detail.summary.bytes, new.bytes)
        XCTAssertEqual(detail.summary.referenceCount, 4)
        XCTAssertGreaterThanOrEqual(detail.summary.createdAt, before)
        XCTAssertLessThanOrEqual(detail.summary.createdAt, Date())
        XCTAssertEqual(detail.references.map(\.ordinal), [0, 1, 2, 3])
        XCTAssertEqual(detail.references.map(\.text), new.references.map(\.text))
        XCTAssertEqual(detail.references.map(\.tokenCount), new.references.map(\.tokenCount))
        XCTAssertTrue(detail.references.allSatisfy { $0.documentId == id })

        for (stored, written) in zip(detail.references, new.references) {
            XCTAssertEqual(try store.reference(id: stored.id), stored)
            for memory in written.memories {
                let read = try XCTUnwrap(try store.memoryBlob(referenceId: stored.id, profile: memory.profile))
                XCTAssertEqual(read.codec, memory.codec)
                XCTAssertEqual(read.blob, memory.blob)
            }
        }
        XCTAssertNil(try store.memoryBlob(referenceId: detail.references[0].id, profile: "custom"))
        XCTAssertEqual(try store.document(sha256: "sha-1"), detail.summary)
        XCTAssertNil(try store.document(sha256: "sha-2"))
        XCTAssertNil(try store.document(id: id + 1))
        XCTAssertNil(try store.reference(id: 999))
    }

    func testMemoryBlobsReadsSeveralReferencesAndSkipsMissingOnes() throws {
        let id = try store.insertDocument(Fixture.document(sha256: "a", referenceCount: 3, profiles: ["dense"]))
        let references = try XCTUnwrap(try store.document(id: id)).references
        let ids = references.map(\.id)
        let blobs = try store.memoryBlobs(referenceIds: ids + [ids[0], 12345], profile: "dense")
        XCTAssertEqual(Set(blobs.keys), Set(ids))
        for reference in references {
            XCTAssertEqual(blobs[reference.id]?.blob, Fixture.blob(sha256: "a", ordinal: reference.ordinal, profile: "dense"))
            XCTAssertEqual(blobs[reference.id]?.codec, "int8")
        }
        XCTAssertTrue(try store.memoryBlobs(referenceIds: ids, profile: "paper").isEmpty)
        XCTAssertTrue(try store.memoryBlobs(referenceIds: [], profile: "dense").isEmpty)
    }

    func testLargeAndEmptyBlobsRoundTrip() throws {
        let large = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let id = try store.insertDocument(NewDocument(
            title: "big", source: "s", sha256: "big", bytes: 1,
            references: [
                NewReference(ordinal: 0, text: "a", tokenCount: 1, memories: [NewMemory(profile: "dense", codec: "fp16", blob: large)]),
                NewReference(ordinal: 1, text: "b", tokenCount: 1, memories: [NewMemory(profile: "dense", codec: "fp16", blob: [])]),
            ]
        ))
        let references = try XCTUnwrap(try store.document(id: id)).references
        XCTAssertEqual(try store.memoryBlob(referenceId: references[0].id, profile: "dense")?.blob, large)
        XCTAssertEqual(try store.memoryBlob(referenceId: references[1].id, profile: "dense")?.blob, [])
    }

    func testDocumentsListInInsertionOrderWithPaging() throws {
        for index in 0..<5 {
            _ = try store.insertDocument(Fixture.document(sha256: "doc-\(index)", referenceCount: index + 1))
        }
        let all = try store.documents()
        XCTAssertEqual(all.map(\.sha256), (0..<5).map { "doc-\($0)" })
        XCTAssertEqual(all.map(\.referenceCount), [1, 2, 3, 4, 5])
        XCTAssertEqual(try store.documents(limit: 2, offset: 1).map(\.sha256), ["doc-1", "doc-2"])
        XCTAssertEqual(try store.documents(limit: 2, offset: 4).map(\.sha256), ["doc-4"])
        XCTAssertEqual(try store.documents(limit: 0), [])
    }

    func testDuplicateContentIsRefusedWithTheExistingId() throws {
        let id = try store.insertDocument(Fixture.document(sha256: "same", referenceCount: 2))
        var again = Fixture.document(sha256: "same", title: "other title", referenceCount: 5)
        again.source = "elsewhere"
        XCTAssertThrowsStoreError(.duplicateDocument(existingId: id), try store.insertDocument(again))
        XCTAssertEqual(try store.documents().count, 1)
        XCTAssertEqual(try count("document_references"), 2)
    }

    func testDocumentThatFailsMidwayLeavesNothing() throws {
        _ = try store.insertDocument(Fixture.document(sha256: "keep", referenceCount: 2))
        let statsBefore = try store.statistics()

        // Reference 3 repeats ordinal 1: the failure comes after the document row, references 0-2
        // and their memories were written.
        var repeatedOrdinal = Fixture.document(sha256: "broken-1", referenceCount: 5)
        repeatedOrdinal.references[3].ordinal = 1
        XCTAssertThrowsStoreError(try store.insertDocument(repeatedOrdinal)) {
            guard case .invalidDocument(let message) = $0 else { return false }
            return message.contains("ordinal 1 appears more than once")
        }

        // The last reference's memories repeat a profile.
        var repeatedProfile = Fixture.document(sha256: "broken-2", referenceCount: 3)
        repeatedProfile.references[2].memories.append(repeatedProfile.references[2].memories[0])
        XCTAssertThrowsStoreError(try store.insertDocument(repeatedProfile)) {
            guard case .invalidDocument(let message) = $0 else { return false }
            return message.contains("profile \"dense\" appears more than once")
        }

        var negativeTokens = Fixture.document(sha256: "broken-3", referenceCount: 3)
        negativeTokens.references[1].tokenCount = -1
        XCTAssertThrowsStoreError(try store.insertDocument(negativeTokens)) {
            if case .invalidDocument = $0 { return true } else { return false }
        }

        var statsAfter = try store.statistics()
        if backend == .postgres {
            // A PostgreSQL database keeps the dead rows of rolled-back writes until vacuumed.
            statsAfter.fileBytes = statsBefore.fileBytes
        }
        XCTAssertEqual(statsAfter, statsBefore)
        XCTAssertEqual(try store.documents().map(\.sha256), ["keep"])
        XCTAssertNil(try store.document(sha256: "broken-1"))
        XCTAssertEqual(try store.search("broken", limit: 10), [])
        XCTAssertEqual(try store.integrityProblems(), [])
        // The failed inserts did not poison the connection.
        XCTAssertNoThrow(try store.insertDocument(Fixture.document(sha256: "broken-1", referenceCount: 5)))
    }

    func testDeleteRemovesReferencesMemoriesAndIndexRows() throws {
        let keep = try store.insertDocument(Fixture.document(sha256: "keep", referenceCount: 2))
        let gone = try store.insertDocument(Fixture.document(sha256: "gone", referenceCount: 3) { "unique zebra text \($0)" })
        XCTAssertEqual(try store.search("zebra", limit: 10).count, 3)
        let goneReferences = try XCTUnwrap(try store.document(id: gone)).references

        XCTAssertTrue(try store.deleteDocument(id: gone))
        XCTAssertFalse(try store.deleteDocument(id: gone))

        XCTAssertNil(try store.document(id: gone))
        XCTAssertEqual(try count("documents"), 1)
        XCTAssertEqual(try count("document_references"), 2)
        XCTAssertEqual(try count("memories"), 4)
        // SQLite's full-text index is a table of its own; PostgreSQL's is a column of the references.
        let indexRows = backend == .sqlite ? "reference_fts_docsize" : "document_references"
        XCTAssertEqual(try count(indexRows), 2, "full-text rows of the deleted references remain")
        XCTAssertEqual(try store.search("zebra", limit: 10), [])
        for reference in goneReferences {
            XCTAssertNil(try store.reference(id: reference.id))
            XCTAssertNil(try store.memoryBlob(referenceId: reference.id, profile: "dense"))
        }
        XCTAssertEqual(try store.document(id: keep)?.references.count, 2)
        XCTAssertEqual(try store.integrityProblems(), [])

        XCTAssertTrue(try store.deleteDocument(id: keep))
        for table in ["documents", "document_references", "memories", indexRows] {
            XCTAssertEqual(try count(table), 0, table)
        }
    }

    func testIdsAreNeverReusedAfterADelete() throws {
        let first = try store.insertDocument(Fixture.document(sha256: "a", referenceCount: 2))
        let firstReferences = try XCTUnwrap(try store.document(id: first)).references.map(\.id)
        XCTAssertTrue(try store.deleteDocument(id: first))
        let second = try store.insertDocument(Fixture.document(sha256: "b", referenceCount: 2))
        XCTAssertGreaterThan(second, first)
        let secondReferences = try XCTUnwrap(try store.document(id: second)).references.map(\.id)
        XCTAssertTrue(Set(firstReferences).isDisjoint(with: secondReferences))
    }

    func testReplaceKeepsTheIdAndSwapsEverythingElse() throws {
        let id = try store.insertDocument(Fixture.document(sha256: "v1", referenceCount: 3) { "old walrus \($0)" })
        let oldReferences = try XCTUnwrap(try store.document(id: id)).references

        let replacement = Fixture.document(sha256: "v2", title: "Second edition", referenceCount: 2) { "new narwhal \($0)" }
        XCTAssertEqual(try store.replaceDocument(id: id, with: replacement), id)

        let detail = try XCTUnwrap(try store.document(id: id))
        XCTAssertEqual(detail.summary.title, "Second edition")
        XCTAssertEqual(detail.summary.sha256, "v2")
        XCTAssertEqual(detail.references.map(\.text), ["new narwhal 0", "new narwhal 1"])
        XCTAssertTrue(Set(detail.references.map(\.id)).isDisjoint(with: oldReferences.map(\.id)))
        XCTAssertNil(try store.document(sha256: "v1"))
        XCTAssertEqual(try store.search("walrus", limit: 10), [])
        XCTAssertEqual(try store.search("narwhal", limit: 10).count, 2)
        XCTAssertEqual(try count("memories"), 4)
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testReplaceWithTheSameContentIsAllowed() throws {
        let id = try store.insertDocument(Fixture.document(sha256: "same", title: "old", referenceCount: 2))
        XCTAssertEqual(try store.replaceDocument(id: id, with: Fixture.document(sha256: "same", title: "new", referenceCount: 2)), id)
        XCTAssertEqual(try store.document(id: id)?.summary.title, "new")
    }

    func testFailedReplaceChangesNothing() throws {
        let id = try store.insertDocument(Fixture.document(sha256: "mine", referenceCount: 2))
        let other = try store.insertDocument(Fixture.document(sha256: "theirs", referenceCount: 1))
        let before = try store.document(id: id)

        XCTAssertThrowsStoreError(
            .duplicateDocument(existingId: other),
            try store.replaceDocument(id: id, with: Fixture.document(sha256: "theirs", referenceCount: 4))
        )
        var broken = Fixture.document(sha256: "fresh", referenceCount: 3)
        broken.references[2].ordinal = 0
        XCTAssertThrowsStoreError(try store.replaceDocument(id: id, with: broken)) {
            if case .invalidDocument = $0 { return true } else { return false }
        }
        XCTAssertThrowsStoreError(
            .documentNotFound(id: 999),
            try store.replaceDocument(id: 999, with: Fixture.document(sha256: "fresh", referenceCount: 1))
        )
        XCTAssertEqual(try store.document(id: id), before)
        XCTAssertEqual(try store.documents().count, 2)
        XCTAssertEqual(try store.integrityProblems(), [])
    }

    func testUpsertMemoriesAddsAProfileAndReplacesExistingOnes() throws {
        let id = try store.insertDocument(Fixture.document(sha256: "a", referenceCount: 2, profiles: ["dense"]))
        let references = try XCTUnwrap(try store.document(id: id)).references
        try store.upsertMemories([
            references[0].id: [NewMemory(profile: "paper", codec: "int4", blob: [1]), NewMemory(profile: "dense", codec: "fp16", blob: [2])],
            references[1].id: [NewMemory(profile: "paper", codec: "int4", blob: [3])],
        ])
        XCTAssertEqual(try store.memoryBlob(referenceId: references[0].id, profile: "paper")?.blob, [1])
        XCTAssertEqual(try store.memoryBlob(referenceId: references[0].id, profile: "dense")?.codec, "fp16")
        XCTAssertEqual(try store.memoryBlob(referenceId: references[1].id, profile: "paper")?.blob, [3])

        XCTAssertThrowsStoreError(
            .referenceNotFound(id: 4242),
            try store.upsertMemories([
                references[0].id: [NewMemory(profile: "custom", codec: "int8", blob: [9])],
                4242: [NewMemory(profile: "custom", codec: "int8", blob: [9])],
            ])
        )
        XCTAssertNil(try store.memoryBlob(referenceId: references[0].id, profile: "custom"), "the failed batch must leave nothing")

        XCTAssertEqual(try store.deleteMemories(profile: "paper"), 2)
        XCTAssertEqual(Set(try store.statistics().memoryUsage.map(\.profile)), ["dense"])
    }

    func testSettingsAreStoredReplacedAndRemoved() throws {
        XCTAssertNil(try store.setting("model.fingerprint"))
        try store.setSetting("model.fingerprint", "one")
        try store.setSetting("model.fingerprint", "two")
        try store.setSetting("calibration.retrievalHead", "{\"layer\":18}")
        XCTAssertEqual(try store.setting("model.fingerprint"), "two")
        XCTAssertEqual(try store.settings(), ["model.fingerprint": "two", "calibration.retrievalHead": "{\"layer\":18}"])
        XCTAssertTrue(try store.removeSetting("model.fingerprint"))
        XCTAssertFalse(try store.removeSetting("model.fingerprint"))
        XCTAssertNil(try store.setting("model.fingerprint"))
    }

    func testStatisticsCountDocumentsReferencesAndBlobBytesPerProfileAndCodec() throws {
        XCTAssertEqual(try store.statistics().documents, 0)
        let a = Fixture.document(sha256: "a", referenceCount: 2)
        let b = Fixture.document(sha256: "b", referenceCount: 3, profiles: ["dense"])
        _ = try store.insertDocument(a)
        _ = try store.insertDocument(b)
        let statistics = try store.statistics()
        XCTAssertEqual(statistics.documents, 2)
        XCTAssertEqual(statistics.references, 5)
        XCTAssertEqual(statistics.tokens, (a.references + b.references).reduce(0) { $0 + $1.tokenCount })
        XCTAssertEqual(statistics.memories, 7)
        func bytes(_ profile: String) -> Int {
            (a.references + b.references).flatMap(\.memories).filter { $0.profile == profile }.reduce(0) { $0 + $1.blob.count }
        }
        XCTAssertEqual(statistics.memoryUsage, [
            .init(profile: "dense", codec: "int8", count: 5, blobBytes: bytes("dense")),
            .init(profile: "paper", codec: "fp16", count: 2, blobBytes: bytes("paper")),
        ])
        XCTAssertEqual(statistics.blobBytes, bytes("dense") + bytes("paper"))
        XCTAssertGreaterThan(statistics.fileBytes, statistics.blobBytes)
    }
}

