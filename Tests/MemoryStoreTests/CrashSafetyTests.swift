import Foundation
import XCTest
@testable import MemoryStore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Environment of the writer child process (see `CrashWriterHelper`).
enum CrashEnvironment {
    static let database = "MEMORY3_CRASH_DB"
    static let acknowledgements = "MEMORY3_CRASH_ACK"
    static let round = "MEMORY3_CRASH_ROUND"
}

/// Kills a writer process with SIGKILL at a random moment, three times over the same file, and
/// checks after each kill that the file is intact, that every document is whole or absent, and
/// that every document whose insert had returned is there.
///
/// The writer is this test binary itself, run with a filter that selects only
/// `CrashWriterHelper.testWriterLoop`, and an environment variable that turns that test on.
final class CrashSafetyTests: XCTestCase {
    func testWriterKilledMidWriteLeavesOnlyWholeDocumentsAndLosesNothingAcknowledged() throws {
        #if os(Linux)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        #else
        throw XCTSkip("spawning the test runner as a writer is implemented for Linux only")
        #endif
        let directory = try TemporaryDirectory()
        let databasePath = directory.path("crash.sqlite")
        var generator = SystemRandomNumberGenerator()

        for round in 1...3 {
            let ackPath = directory.path("ack-\(round).txt")
            let logPath = directory.path("writer-\(round).log")
            XCTAssertTrue(FileManager.default.createFile(atPath: ackPath, contents: nil))
            XCTAssertTrue(FileManager.default.createFile(atPath: logPath, contents: nil))
            let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            defer { try? log.close() }

            let writer = Process()
            writer.executableURL = URL(fileURLWithPath: executable)
            writer.arguments = ["MemoryStoreTests.CrashWriterHelper/testWriterLoop"]
            var environment = ProcessInfo.processInfo.environment
            environment[CrashEnvironment.database] = databasePath
            environment[CrashEnvironment.acknowledgements] = ackPath
            environment[CrashEnvironment.round] = String(round)
            writer.environment = environment
            writer.standardOutput = log
            writer.standardError = log
            try writer.run()

            // Wait for the first acknowledged document, so the kill lands in steady-state writing.
            let started = Date()
            while (try? String(contentsOfFile: ackPath, encoding: .utf8))?.contains("inserted") != true {
                guard writer.isRunning, Date().timeIntervalSince(started) < 60 else {
                    if writer.isRunning { kill(writer.processIdentifier, SIGKILL) }
                    writer.waitUntilExit()
                    let output = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
                    XCTFail("round \(round): the writer never acknowledged a document; its output:\n\(output.suffix(4000))")
                    return
                }
                usleep(10_000)
            }
            usleep(UInt32.random(in: 200_000...1_500_000, using: &generator))
            XCTAssertTrue(writer.isRunning, "round \(round): the writer stopped on its own")
            XCTAssertEqual(kill(writer.processIdentifier, SIGKILL), 0)
            writer.waitUntilExit()
            XCTAssertEqual(writer.terminationReason, .uncaughtSignal)
            XCTAssertEqual(writer.terminationStatus, SIGKILL)

            try checkAfterCrash(databasePath: databasePath, ackPath: ackPath, round: round)
        }
    }

    private func checkAfterCrash(databasePath: String, ackPath: String, round: Int) throws {
        let store = try MemoryStore(path: databasePath)
        XCTAssertEqual(try store.integrityProblems(), [], "round \(round)")

        // Every document is whole: as many references as it was written with, each with both
        // memories, byte for byte.
        var referenceTotal = 0
        let documents = try store.documents(limit: 1_000_000)
        for summary in documents {
            let stated = try XCTUnwrap(Fixture.statedReferenceCount(summary), "\(summary)")
            let detail = try XCTUnwrap(try store.document(id: summary.id))
            XCTAssertEqual(detail.references.map(\.ordinal), Array(0..<stated), "round \(round): \(summary)")
            referenceTotal += detail.references.count
            for profile in Fixture.profiles {
                let blobs = try store.memoryBlobs(referenceIds: detail.references.map(\.id), profile: profile)
                XCTAssertEqual(blobs.count, stated, "round \(round): \(summary) \(profile)")
                for reference in detail.references {
                    XCTAssertEqual(reference.text, Fixture.referenceText(sha256: summary.sha256, ordinal: reference.ordinal))
                    let expected = Fixture.blob(sha256: summary.sha256, ordinal: reference.ordinal, profile: profile,
                                                maximumBytes: CrashWriterHelper.maximumBlobBytes)
                    if blobs[reference.id]?.blob != expected {
                        XCTFail("round \(round): wrong \(profile) memory for reference \(reference.ordinal) of \(summary)")
                    }
                }
            }
        }
        let statistics = try store.statistics()
        XCTAssertEqual(statistics.references, referenceTotal, "round \(round): references outside any document")
        XCTAssertEqual(statistics.memories, referenceTotal * Fixture.profiles.count, "round \(round): stray memories")

        // Nothing acknowledged is lost: every insert that returned is there, unless its deletion had begun.
        let lines = try String(contentsOfFile: ackPath, encoding: .utf8).split(separator: "\n")
        var inserted: Set<Int64> = []
        var deleting: Set<Int64> = []
        var deleted: Set<Int64> = []
        for line in lines {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let id = Int64(parts[1]) else { continue } // a torn last line
            switch parts[0] {
            case "inserted": inserted.insert(id)
            case "deleting": deleting.insert(id)
            case "deleted": deleted.insert(id)
            default: break
            }
        }
        let present = Set(documents.map(\.id))
        XCTAssertTrue(inserted.subtracting(deleting).isSubset(of: present),
                      "round \(round): acknowledged documents lost: \(inserted.subtracting(deleting).subtracting(present).sorted())")
        XCTAssertTrue(deleted.isDisjoint(with: present), "round \(round): acknowledged deletes undone")
        XCTAssertGreaterThan(inserted.count, 0)
        print("crash round \(round): \(documents.count) documents (\(referenceTotal) references) after the kill; "
              + "\(inserted.count) inserts and \(deleted.count) deletes acknowledged this round")
    }
}

/// The writer child of `CrashSafetyTests`: skipped unless `MEMORY3_CRASH_DB` is set; then it writes
/// documents until it is killed, acknowledging each finished write in the file `MEMORY3_CRASH_ACK`.
final class CrashWriterHelper: XCTestCase {
    static let maximumBlobBytes = 48 * 1024

    func testWriterLoop() throws {
        let environment = ProcessInfo.processInfo.environment
        guard let databasePath = environment[CrashEnvironment.database],
              let ackPath = environment[CrashEnvironment.acknowledgements] else {
            throw XCTSkip("runs only as the child process of CrashSafetyTests")
        }
        let round = environment[CrashEnvironment.round] ?? "0"
        let store = try MemoryStore(path: databasePath)
        // Unbuffered appends: a line is in the kernel when `write` returns, so SIGKILL cannot lose it.
        let ack = open(ackPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard ack >= 0 else { throw XCTSkip("cannot open \(ackPath)") }
        func acknowledge(_ event: String, _ id: Int64) {
            let line = Array("\(event) \(id)\n".utf8)
            _ = line.withUnsafeBytes { write(ack, $0.baseAddress, $0.count) }
        }

        var written: [Int64] = []
        var index = 0
        while true { // until SIGKILL
            let sha = "r\(round)-\(index)"
            let document = Fixture.document(
                sha256: sha, referenceCount: 1 + (index * 7) % 23, maximumBlobBytes: Self.maximumBlobBytes
            )
            let id = try store.insertDocument(document)
            acknowledge("inserted", id)
            written.append(id)
            if index % 5 == 4 {
                // Replace a recent document with a new version (same id, different references).
                let target = written[written.count - 3]
                try store.replaceDocument(id: target, with: Fixture.document(
                    sha256: "\(sha)-replacement", referenceCount: 1 + (index * 11) % 19,
                    maximumBlobBytes: Self.maximumBlobBytes
                ))
            }
            if index % 9 == 8 {
                let target = written.remove(at: written.count - 4)
                acknowledge("deleting", target)
                try store.deleteDocument(id: target)
                acknowledge("deleted", target)
            }
            index += 1
        }
    }
}
