import Foundation
import Memory3TestSupport
import GGUF
import Memory3Memory
import MemoryStore
import XCTest

/// `memory3 ingest` and `memory3 documents` run as a user would, on a tiny model written to disk.
final class IngestCommandLineTests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        guard Memory3Executable.url != nil else { throw XCTSkip("the memory3 executable was not built beside the tests") }
        return try Memory3Executable.run(arguments)
    }

    func testIngestStoresGoodFilesReportsBadOnesAndExitsOneThenSkipsOnReingest() throws {
        let folder = try TestPaths.temporaryFolder(self)
        let model = folder.appendingPathComponent("tiny.gguf").path
        try TinyLlamaFactory().makeWriter().write(to: model)
        let docs = folder.appendingPathComponent("docs")
        try FileManager.default.createDirectory(at: docs.appendingPathComponent("sub"), withIntermediateDirectories: true)
        try Data("First note.\n\nIt has two paragraphs.".utf8).write(to: docs.appendingPathComponent("a.txt"))
        try Data("# Title\n\nSecond note.".utf8).write(to: docs.appendingPathComponent("sub/b.md"))
        try Data([0x61, 0x00, 0x62]).write(to: docs.appendingPathComponent("bin.txt"))
        try Data([0x63, 0xFF]).write(to: docs.appendingPathComponent("bad.txt"))
        try Data().write(to: docs.appendingPathComponent("empty.txt"))
        let db = folder.appendingPathComponent("kb.db").path

        let first = try run(["ingest", "--db", db, "--model", model, docs.path])
        XCTAssertEqual(first.status, 1, first.stderr)
        XCTAssertTrue(first.stdout.contains("added 2 documents"), first.stdout)
        XCTAssertTrue(first.stdout.contains("bin.txt: binary file"), first.stdout)
        XCTAssertTrue(first.stdout.contains("bad.txt: not valid UTF-8"), first.stdout)
        XCTAssertTrue(first.stdout.contains("empty.txt: file is empty"), first.stdout)
        XCTAssertTrue(first.stderr.contains("refs/s"), "progress on stderr: \(first.stderr)")

        let again = try run(["ingest", "--db", db, "--model", model, "--json", "--quiet",
                             docs.appendingPathComponent("a.txt").path, docs.appendingPathComponent("sub").path])
        XCTAssertEqual(again.status, 0, again.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(again.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["added"] as? Int, 0)
        XCTAssertEqual(summary["skipped"] as? Int, 2)

        let list = try run(["documents", "list", "--db", db, "--json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        let documents = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]])
        XCTAssertEqual(documents.compactMap { $0["title"] as? String }.sorted(), ["a.txt", "b.md"])
        let id = try XCTUnwrap(documents.first?["id"] as? Int)

        let show = try run(["documents", "show", String(id), "--db", db])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("First note."), show.stdout)

        XCTAssertEqual(try run(["documents", "delete", String(id), "--db", db]).status, 0)
        let missing = try run(["documents", "delete", String(id), "--db", db])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("no document \(id)"), missing.stderr)
    }

    func testIngestWithAnotherModelIntoTheSameStoreIsRefused() throws {
        let folder = try TestPaths.temporaryFolder(self)
        var other = TinyLlamaFactory()
        other.name = "other"
        let modelA = folder.appendingPathComponent("a.gguf").path, modelB = folder.appendingPathComponent("b.gguf").path
        try TinyLlamaFactory().makeWriter().write(to: modelA)
        try other.makeWriter().write(to: modelB)
        let doc = folder.appendingPathComponent("a.txt")
        try Data("A note.".utf8).write(to: doc)
        let db = folder.appendingPathComponent("kb.db").path
        XCTAssertEqual(try run(["ingest", "--db", db, "--model", modelA, doc.path]).status, 0)
        let refused = try run(["ingest", "--db", db, "--model", modelB, doc.path])
        XCTAssertEqual(refused.status, 1)
        XCTAssertTrue(refused.stderr.contains("another model"), refused.stderr)
    }

    func testBadProfileOrCodecIsAUsageError() throws {
        let bad = try run(["ingest", "--db", "/nonexistent/kb.db", "--codec", "int5", "x.txt"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("unknown memory codec 'int5'"), bad.stderr)
        let contradiction = try run(["ingest", "--db", "/nonexistent/kb.db", "--profile", "compact", "--codec", "int8", "x.txt"])
        XCTAssertNotEqual(contradiction.status, 0)
        XCTAssertTrue(contradiction.stderr.contains("compact profile stores int3"), contradiction.stderr)
    }

    /// A child `memory3 ingest` of 300 documents is killed with SIGKILL mid-run: the store stays
    /// healthy, every document in it is complete (all its references, each with its memory), and
    /// a second run completes the set.
    func testIngestKilledMidRunLeavesOnlyCompleteDocumentsAndResumes() throws {
        guard let executable = Memory3Executable.url else { throw XCTSkip("the memory3 executable was not built beside the tests") }
        let folder = try TestPaths.temporaryFolder(self)
        let model = folder.appendingPathComponent("tiny.gguf").path
        try TinyLlamaFactory().makeWriter().write(to: model)
        let docs = folder.appendingPathComponent("docs")
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        for i in 0 ..< 300 {
            let text = (0 ..< 1 + i % 4).map { "Document \(i), paragraph \($0): the keeper logged ships and weather for the record." }
            try Data(text.joined(separator: "\n\n").utf8).write(to: docs.appendingPathComponent(String(format: "doc-%03d.txt", i)))
        }
        let db = folder.appendingPathComponent("kb.db").path

        let process = Process()
        process.executableURL = executable
        process.arguments = ["ingest", "--db", db, "--model", model, "--quiet", docs.path]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Kill once some documents are in (a random moment after that).
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let store = try? MemoryStore(path: db, readOnly: true), let n = try? store.documents(limit: 400).count, n >= 5 {
                store.close()
                break
            }
            usleep(20_000)
        }
        usleep(UInt32.random(in: 0 ..< 200_000))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        XCTAssertEqual(process.terminationReason, .uncaughtSignal)

        let tokenizer = try TinyLlamaFactory().make().tokenizer
        let chunker = ReferenceChunker(tokenizer: tokenizer)
        func checkEveryDocumentIsComplete() throws -> Int {
            let store = try MemoryStore(path: db)
            defer { store.close() }
            XCTAssertEqual(try store.integrityProblems(), [])
            let documents = try store.documents(limit: 1000)
            for d in documents {
                let detail = try XCTUnwrap(try store.document(id: d.id))
                let text = try String(contentsOfFile: d.source, encoding: .utf8)
                XCTAssertEqual(detail.references.map(\.text), chunker.chunk(text, format: .plain).map(\.text), d.source)
                for r in detail.references { XCTAssertNotNil(try store.memoryBlob(referenceId: r.id, profile: "dense")) }
            }
            return documents.count
        }
        let stored = try checkEveryDocumentIsComplete()
        XCTAssertGreaterThanOrEqual(stored, 5)
        XCTAssertLessThan(stored, 300, "the kill came before the end")

        let resumed = try run(["ingest", "--db", db, "--model", model, "--quiet", "--json", docs.path])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(resumed.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(summary["skipped"] as? Int, stored)
        XCTAssertEqual(summary["added"] as? Int, 300 - stored)
        XCTAssertEqual(try checkEveryDocumentIsComplete(), 300)
    }
}
