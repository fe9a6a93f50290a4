import Memory3TestSupport
import Memory3Memory
import MemoryStore
import XCTest

final class IngestorTests: XCTestCase {
    var folder: URL!
    var store: MemoryStore!
    var fingerprint: String!
    var encoder: MemoryEncoder!

    override func setUpWithError() throws {
        folder = try TestPaths.temporaryFolder(self)
        store = try MemoryStore(path: folder.appendingPathComponent("memory.db").path)
        let tiny = try TinyLlamaFactory().make()
        fingerprint = ModelFingerprint.of(tiny.file)
        encoder = try MemoryEncoder(model: tiny.model, tokenizer: tiny.tokenizer)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let url = folder.appendingPathComponent("docs").appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url.path
    }

    func write(_ name: String, _ text: String) throws -> String { try write(name, Array(text.utf8)) }

    static let prose = (0 ..< 6).map { "Paragraph \($0): the keeper logged the weather and the passing ships." }.joined(separator: "\n\n")

    func makeIngestor(_ configure: (inout IngestOptions) -> Void = { _ in }) -> Ingestor {
        var options = IngestOptions()
        options.maxFileBytes = 4096
        configure(&options)
        return Ingestor(store: store, encoder: encoder, fingerprint: fingerprint, options: options)
    }

    /// A folder of good and bad files plus a missing path and an explicitly named non-text file.
    func makeMixedFolder() throws -> (paths: [String], good: [String], bad: [String: IngestFileError]) {
        let good = [
            try write("a.txt", Self.prose),
            try write("b.md", "# Lights\n\n" + Self.prose),
            try write("sub/deeper/c.txt", "A nested note about lenses."),
        ]
        var bad: [String: IngestFileError] = [:]
        bad[try write("binary.txt", Array("abc".utf8) + [0, 1, 2])] = .binary(offset: 3)
        bad[try write("latin1.txt", Array("caf".utf8) + [0xE9, 0x20, 0x61])] = .invalidUTF8(offset: 3)
        bad[try write("empty.md", [])] = .empty
        bad[try write("spaces.txt", " \n\t\n")] = .noText
        bad[try write("big.txt", String(repeating: "big words ", count: 500))] = .tooLarge(bytes: 5000, limit: 4096)
        _ = try write("image.png", [0x89, 0x50])  // not taken from the folder
        _ = try write(".hidden.txt", "hidden")  // skipped
        let png = try write("named.png", [0x89, 0x50])
        bad[png] = .unsupportedType(extension: "png", supported: ["markdown", "md", "txt"])
        let missing = folder.appendingPathComponent("missing.txt").path
        bad[missing] = .notFound
        return ([folder.appendingPathComponent("docs").path, png, missing], good, bad)
    }

    func testFolderWithGoodAndBadFilesStoresTheGoodAndReportsEachBadFile() throws {
        let (paths, good, bad) = try makeMixedFolder()
        var progress: [IngestProgress] = []
        let summary = makeIngestor().ingest(paths) { progress.append($0) }

        XCTAssertEqual(Set(summary.added.map(\.path)), Set(good))
        XCTAssertEqual(summary.failed.count, bad.count)
        for file in summary.failed {
            guard case .failed(let error) = file.outcome else { continue }
            XCTAssertEqual(bad[file.path], error, file.path)
            XCTAssertFalse(error.description.isEmpty)
        }
        XCTAssertTrue(summary.skipped.isEmpty)

        let documents = try store.documents()
        XCTAssertEqual(documents.count, 3)
        XCTAssertEqual(summary.references, documents.reduce(0) { $0 + $1.referenceCount })
        XCTAssertEqual(summary.tokens, summary.added.reduce(0) { $0 + $1.tokens })
        XCTAssertGreaterThan(summary.references, 3, "the prose is cut into several 128-token references")
        for summaryRow in documents {
            let detail = try XCTUnwrap(try store.document(id: summaryRow.id))
            XCTAssertEqual(detail.references.map(\.ordinal), Array(detail.references.indices))
            for reference in detail.references {
                XCTAssertLessThanOrEqual(reference.tokenCount, 128)
                let (codec, blob) = try XCTUnwrap(try store.memoryBlob(referenceId: reference.id, profile: "dense"))
                XCTAssertEqual(codec, "int8")
                let decoded = try MemoryCodec.decode(blob, expectedFingerprint: fingerprint)
                XCTAssertEqual(decoded.memory.tokenCount, encoder.prefixTokens.count + encoder.bodyTokens(reference.text).count)
            }
        }

        XCTAssertEqual(progress.count, summary.references)
        XCTAssertEqual(progress.map(\.referencesDone), Array(1 ... summary.references))
        XCTAssertEqual(progress.last?.referencesTotal, summary.references)
        XCTAssertNotNil(progress.last?.etaSeconds)
        XCTAssertGreaterThan(progress.last?.referencesPerSecond ?? 0, 0)
    }

    /// The options' codec and int8-key layers reach every stored blob.
    func testStoredBlobsCarryTheOptionsCodecAndInt8KeyLayers() throws {
        let path = try write("lighthouse.txt", String(repeating: "The keeper lit the lamp at dusk and watched the ships. ", count: 12))
        let summary = makeIngestor { $0.codec = .int3r; $0.int8KeyLayers = [1] }.ingest([path])
        XCTAssertEqual(summary.added.count, 1)
        let detail = try XCTUnwrap(try store.document(id: try XCTUnwrap(try store.documents().first).id))
        XCTAssertFalse(detail.references.isEmpty)
        for reference in detail.references {
            let (codec, blob) = try XCTUnwrap(try store.memoryBlob(referenceId: reference.id, profile: "dense"))
            XCTAssertEqual(codec, "int3r")
            let header = try MemoryCodec.decode(blob, expectedFingerprint: fingerprint).header
            XCTAssertEqual(header.codec, .int3r)
            XCTAssertEqual(header.int8KeyLayers, [1])
        }
    }

    func testReingestSkipsWhatIsStoredAndStillReportsTheBadFiles() throws {
        let (paths, good, bad) = try makeMixedFolder()
        let first = makeIngestor().ingest(paths)
        XCTAssertEqual(first.added.count, good.count)
        let again = makeIngestor().ingest(paths)
        XCTAssertTrue(again.added.isEmpty)
        XCTAssertEqual(Set(again.skipped.map(\.path)), Set(good))
        XCTAssertEqual(again.failed.count, bad.count)
        XCTAssertEqual(try store.documents().count, good.count)
        XCTAssertEqual(again.references, 0)
    }

    func testSameContentUnderAnotherNameIsSkipped() throws {
        let a = try write("a.txt", Self.prose)
        let b = try write("copy-of-a.txt", Self.prose)
        let summary = makeIngestor().ingest([a, b])
        XCTAssertEqual(summary.added.map(\.path), [a])
        guard case .skipped(let existing) = summary.skipped.first?.outcome else { return XCTFail("\(summary)") }
        XCTAssertEqual(existing, try store.documents().first?.id)
    }

    func testDocumentWhoseMemoriesWouldExceedTheLimitFailsBeforeAnythingIsStored() throws {
        let path = try write("a.txt", Self.prose)
        let summary = makeIngestor { $0.maxDocumentMemoryBytes = 10_000 }.ingest([path])
        guard case .failed(.memoryTooLarge(let references, _, let limit)) = summary.files.first?.outcome else {
            return XCTFail("\(summary)")
        }
        XCTAssertGreaterThan(references, 1)
        XCTAssertEqual(limit, 10_000)
        XCTAssertEqual(try store.documents().count, 0)
    }

    func testCancelledIngestLeavesNoHalfWrittenDocument() throws {
        let a = try write("a.txt", Self.prose)
        let b = try write("b.txt", Self.prose + " More.")
        var calls = 0
        let summary = makeIngestor().ingest([a, b], isCancelled: {
            calls += 1
            return calls > 3
        })
        XCTAssertTrue(summary.files.allSatisfy { $0.outcome == .failed(.cancelled) })
        XCTAssertEqual(try store.documents().count, 0)
    }

    func testProfileAndCodecChoicesAreStoredWithEachMemory() throws {
        let path = try write("a.md", "# Heading\n\n" + Self.prose)
        let paper = try MemoryEncoder(model: encoder.model, tokenizer: encoder.tokenizer, profile: .paper)
        var options = IngestOptions()
        options.codec = .int4
        let summary = Ingestor(store: store, encoder: paper, fingerprint: fingerprint, options: options).ingest([path])
        let id = try XCTUnwrap(summary.added.first.flatMap { if case .added(let id) = $0.outcome { return id } else { return nil } })
        let reference = try XCTUnwrap(try store.document(id: id)?.references.first)
        XCTAssertNil(try store.memoryBlob(referenceId: reference.id, profile: "dense"))
        let (codec, blob) = try XCTUnwrap(try store.memoryBlob(referenceId: reference.id, profile: "paper"))
        XCTAssertEqual(codec, "int4")
        let decoded = try MemoryCodec.decode(blob, expectedFingerprint: fingerprint)
        XCTAssertEqual(decoded.header.profile, "paper")
        XCTAssertEqual(decoded.memory.layers, [0, 1])
    }

    func testValidationNamesTheFirstBadByte() {
        XCTAssertThrowsError(try DocumentFile.validate([0x61, 0xC3])) { XCTAssertEqual($0 as? IngestFileError, .invalidUTF8(offset: 1)) }
        XCTAssertThrowsError(try DocumentFile.validate([0xED, 0xA0, 0x80])) { XCTAssertEqual($0 as? IngestFileError, .invalidUTF8(offset: 0)) }
        XCTAssertThrowsError(try DocumentFile.validate([0xC0, 0x80])) { XCTAssertEqual($0 as? IngestFileError, .invalidUTF8(offset: 0)) }
        XCTAssertEqual(try DocumentFile.validate(Array("héllo 🌊".utf8)), "héllo 🌊")
        XCTAssertEqual(try DocumentFile.validate([0xEF, 0xBB, 0xBF, 0x61]), "a", "a byte order mark is skipped")
    }
}

extension IngestorTests {
    func testUploadedBytesAreIngestedLikeAFile() throws {
        let ingestor = makeIngestor()
        let added = ingestor.ingest(bytes: Array(("# Notes\n\n" + Self.prose).utf8), title: "notes.md", source: "upload:1")
        guard case .added(let id) = added.outcome else { return XCTFail("\(added)") }
        XCTAssertEqual(try store.document(id: id)?.summary.source, "upload:1")
        XCTAssertEqual(try store.document(id: id)?.references.first?.text.hasPrefix("# Notes"), true)
        let again = ingestor.ingest(bytes: Array(("# Notes\n\n" + Self.prose).utf8), title: "other.md", source: "upload:2")
        XCTAssertEqual(again.outcome, .skipped(existingDocumentId: id))
        XCTAssertEqual(ingestor.ingest(bytes: [0xFF], title: "x.txt", source: "upload:3").outcome, .failed(.invalidUTF8(offset: 0)))
    }
}

/// The ingestion pipeline's durability: an edited file replaces its document, and an ingestion
/// whose process stopped half-way is finished by a new job from what the store holds.
extension IngestorTests {
    func testAnEditedFileReplacesItsDocument() throws {
        let path = try write("guide.txt", "The ferry leaves from pier seven at noon.")
        let first = makeIngestor().ingest([path])
        guard case .added(let id) = first.files.first?.outcome else { return XCTFail("\(first)") }
        try Data("The tram departs from platform nine at dusk.".utf8).write(to: URL(fileURLWithPath: path))
        let second = makeIngestor().ingest([path])
        XCTAssertEqual(second.files.first?.outcome, .added(documentId: id), "the edited file keeps its document id")
        XCTAssertEqual(try store.documents().count, 1)
        let stored = try XCTUnwrap(try store.document(id: id))
        XCTAssertTrue(stored.references.allSatisfy { $0.text.contains("tram") })
        XCTAssertTrue(try store.search("ferry pier", limit: 5).isEmpty, "the old text is gone from retrieval")
        XCTAssertEqual(makeIngestor().ingest([path]).files.first?.outcome, .skipped(existingDocumentId: id))
    }

    func testAJobMadeAfterAStopFinishesTheIngestionWithEachReferenceOnce() throws {
        var options = IngestOptions()
        options.maxReferenceTokens = 8
        options.commitBatchReferences = 3
        let pipeline = IngestionPipeline(store: store, encoder: encoder, fingerprint: fingerprint, options: options)
        let record = try XCTUnwrap(try pipeline.enqueue([DocumentInput(title: "prose", source: "test", bytes: Array(Self.prose.utf8), format: .plain)]).first)
        // The first process plans and encodes 5 references (one batch of 3 committed), then stops.
        let crashed = pipeline.job(record.id)
        for _ in 0 ..< 6 { XCTAssertTrue(crashed.step()) }
        let left = try XCTUnwrap(try store.ingestion(id: record.id))
        XCTAssertEqual(left.state, .encoding)
        XCTAssertEqual(left.referencesDone, 3, "only whole batches are committed")
        let total = try XCTUnwrap(left.referencesTotal)

        let resumed = pipeline.job(record.id)
        while resumed.step() {}
        guard case .ready(let id) = resumed.result else { return XCTFail("\(resumed.result)") }
        let stored = try XCTUnwrap(try store.document(id: id))
        XCTAssertEqual(stored.references.map(\.ordinal), Array(0 ..< total))
        // The same document ingested in one go gives the same references.
        let fresh = try TestPaths.temporaryFolder(self)
        let other = try MemoryStore(path: fresh.appendingPathComponent("fresh.db").path)
        let direct = IngestionPipeline(store: other, encoder: encoder, fingerprint: fingerprint, options: options)
        guard case .ready(let otherID) = direct.ingestNow(DocumentInput(title: "prose", source: "test", bytes: Array(Self.prose.utf8), format: .plain)) else {
            return XCTFail("direct ingest failed")
        }
        XCTAssertEqual(try other.document(id: otherID)?.references.map(\.text), stored.references.map(\.text))
        let ids = stored.references.map(\.id)
        XCTAssertEqual(try store.memoryBlobs(referenceIds: ids, profile: encoder.profile.name).count, total)
        XCTAssertEqual(try store.integrityProblems(), [])
        // Had the first process lived on, its late batch is refused, not added twice.
        XCTAssertFalse(crashed.step())
        XCTAssertEqual(try store.document(id: id)?.references.count, total)
    }
}

/// Several processes on one store: an ingestion is carried by its owner; another process takes it
/// over only when the owner is gone, and the old owner then stops instead of failing it.
extension IngestorTests {
    func testAnotherProcessTakesOverOnlyFromAGoneOwner() throws {
        var options = IngestOptions()
        options.maxReferenceTokens = 8
        options.commitBatchReferences = 2
        let host = IngestionOwner.current.split(separator: ":")[0]
        let live = IngestionPipeline(store: store, encoding: ModelReferenceEncoding(encoder: encoder, fingerprint: fingerprint),
                                     tokenizer: encoder.tokenizer, options: options, owner: IngestionOwner.current)
        let record = try XCTUnwrap(try live.enqueue([DocumentInput(title: "p", source: "t", bytes: Array(Self.prose.utf8), format: .plain)]).first)
        let first = live.job(record.id)
        for _ in 0 ..< 4 { XCTAssertTrue(first.step()) }

        // A second process while the owner (this process) lives and commits: it leaves it alone.
        let other = IngestionPipeline(store: store, encoding: ModelReferenceEncoding(encoder: encoder, fingerprint: fingerprint),
                                      tokenizer: encoder.tokenizer, options: options, owner: "\(host):999999998:b")
        let blocked = other.job(record.id)
        XCTAssertFalse(blocked.step())
        XCTAssertTrue(blocked.heldElsewhere)
        XCTAssertEqual(try store.ingestion(id: record.id)?.state, .encoding, "refused to take it, and did not fail it")

        // The owner is gone (a pid that does not exist on this host): the other process takes over.
        let gone = IngestionPipeline(store: store, encoding: ModelReferenceEncoding(encoder: encoder, fingerprint: fingerprint),
                                     tokenizer: encoder.tokenizer, options: options, owner: "\(host):999999997:c")
        let orphan = try XCTUnwrap(try gone.enqueue([DocumentInput(title: "q", source: "t", bytes: Array("Another short note about tides.".utf8), format: .plain)]).first)
        let taker = live.job(orphan.id)
        while taker.step() {}
        guard case .ready = taker.result else { return XCTFail("\(taker.result)") }

        // And the first job goes on to the end; had it been taken over, it would stop, not fail.
        while first.step() {}
        guard case .ready = first.result else { return XCTFail("\(first.result)") }
        XCTAssertEqual(try store.integrityProblems(), [])
    }
}
