import Foundation
import XCTest
@testable import MemoryStore

/// Several store objects on one file, one store object on many threads, and read-only stores.
final class ConcurrencyTests: XCTestCase {
    func testReadOnlyStoreReadsButRefusesEveryWrite() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("store.sqlite")
        let writer = try MemoryStore(path: path)
        let id = try writer.insertDocument(Fixture.document(sha256: "a", referenceCount: 2))
        try writer.setSetting("k", "v")

        let reader = try MemoryStore(path: path, readOnly: true)
        XCTAssertTrue(reader.isReadOnly)
        XCTAssertEqual(try reader.document(id: id)?.references.count, 2)
        XCTAssertEqual(try reader.search("reference", limit: 5).count, 2)
        XCTAssertEqual(try reader.setting("k"), "v")
        XCTAssertEqual(try reader.integrityProblems(), [])

        let readOnly = MemoryStoreError.readOnly(path: path)
        XCTAssertThrowsStoreError(readOnly, try reader.insertDocument(Fixture.document(sha256: "b", referenceCount: 1)))
        XCTAssertThrowsStoreError(readOnly, try reader.replaceDocument(id: id, with: Fixture.document(sha256: "b", referenceCount: 1)))
        XCTAssertThrowsStoreError(readOnly, try reader.deleteDocument(id: id))
        XCTAssertThrowsStoreError(readOnly, try reader.setSetting("k", "w"))
        XCTAssertThrowsStoreError(readOnly, try reader.removeSetting("k"))
        XCTAssertThrowsStoreError(readOnly, try reader.upsertMemories([:]))
        XCTAssertThrowsStoreError(readOnly, try reader.deleteMemories(profile: "dense"))

        // The read-only store sees what the writer commits after it was opened.
        _ = try writer.insertDocument(Fixture.document(sha256: "c", referenceCount: 1))
        XCTAssertEqual(try reader.documents().map(\.sha256), ["a", "c"])
    }

    func testReadOnlyStoreOpensAfterTheWriterClosed() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("store.sqlite")
        do {
            let writer = try MemoryStore(path: path)
            _ = try writer.insertDocument(Fixture.document(sha256: "a", referenceCount: 2))
        }
        let reader = try MemoryStore(path: path, readOnly: true)
        XCTAssertEqual(try reader.documents().count, 1)
    }

    /// Readers on other store objects (one read-only) never see a document without all of its
    /// references and memories while a writer inserts and deletes.
    func testReadersOnOtherConnectionsSeeOnlyWholeDocumentsWhileOneWrites() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("store.sqlite")
        let writer = try MemoryStore(path: path)
        let readers = [try MemoryStore(path: path), try MemoryStore(path: path, readOnly: true)]
        let failures = FailureLog()
        let done = ManagedFlag()
        let readCounts = ReadCounter()

        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) {
            defer { done.set() }
            do {
                for index in 0..<120 {
                    let id = try writer.insertDocument(Fixture.document(
                        sha256: "doc-\(index)", referenceCount: 1 + index % 6, maximumBlobBytes: 32768
                    ))
                    if index % 10 == 9 { try writer.deleteDocument(id: id - 3) }
                }
            } catch {
                failures.record("writer: \(error)")
            }
        }
        for (number, reader) in readers.enumerated() {
            DispatchQueue.global().async(group: group) {
                do {
                    while !done.isSet {
                        for summary in try reader.documents(limit: 10_000) {
                            guard summary.referenceCount == Fixture.statedReferenceCount(summary) else {
                                failures.record("reader \(number): partial document \(summary)")
                                continue
                            }
                            // It may be deleted between the list and this read; if present, it is whole.
                            guard let detail = try reader.document(id: summary.id) else { continue }
                            let ids = detail.references.map(\.id)
                            let blobs = try reader.memoryBlobs(referenceIds: ids, profile: "dense")
                            if detail.references.count != summary.referenceCount
                                || (!blobs.isEmpty && blobs.count != ids.count) {
                                failures.record("reader \(number): document \(summary.id) has \(detail.references.count) references, \(blobs.count) memories")
                            }
                            for reference in detail.references {
                                if let blob = blobs[reference.id],
                                   blob.blob != Fixture.blob(sha256: summary.sha256, ordinal: reference.ordinal, profile: "dense", maximumBytes: 32768) {
                                    failures.record("reader \(number): wrong blob for reference \(reference.id)")
                                }
                            }
                        }
                        _ = try reader.search("reference of doc", limit: 5)
                        readCounts.increment()
                    }
                } catch {
                    failures.record("reader \(number): \(error)")
                }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 120), .success, "timed out")
        XCTAssertEqual(failures.all, [])
        XCTAssertGreaterThan(readCounts.value, 2, "the readers should have overlapped the writer")
        XCTAssertEqual(try writer.documents(limit: 10_000).count, 120 - 12)
        XCTAssertEqual(try writer.integrityProblems(), [])
    }

    /// One store object shared by many threads: calls are serialized, none fails.
    func testOneStoreIsSafeToShareAcrossThreads() throws {
        let directory = try TemporaryDirectory()
        let store = try MemoryStore(path: directory.path("store.sqlite"))
        let failures = FailureLog()
        DispatchQueue.concurrentPerform(iterations: 8) { worker in
            do {
                for index in 0..<15 {
                    let sha = "w\(worker)-\(index)"
                    let id = try store.insertDocument(Fixture.document(sha256: sha, referenceCount: 2))
                    if try store.document(id: id)?.summary.sha256 != sha { failures.record("lost \(sha)") }
                    _ = try store.search(sha, limit: 3)
                    try store.setSetting("last-\(worker)", sha)
                }
            } catch {
                failures.record("worker \(worker): \(error)")
            }
        }
        XCTAssertEqual(failures.all, [])
        XCTAssertEqual(try store.statistics().documents, 120)
        XCTAssertEqual(try store.statistics().references, 240)
    }

    /// Two writers on two connections queue on the write lock instead of failing.
    func testTwoWritersOnOneFileBothSucceed() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path("store.sqlite")
        let writers = [try MemoryStore(path: path), try MemoryStore(path: path)]
        let failures = FailureLog()
        DispatchQueue.concurrentPerform(iterations: 2) { number in
            do {
                for index in 0..<40 {
                    _ = try writers[number].insertDocument(Fixture.document(sha256: "\(number)-\(index)", referenceCount: 3))
                }
            } catch {
                failures.record("writer \(number): \(error)")
            }
        }
        XCTAssertEqual(failures.all, [])
        XCTAssertEqual(try writers[0].statistics().documents, 80)
    }
}

final class ManagedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
}

final class ReadCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
