import Foundation
import XCTest
@testable import MemoryStore

/// A fresh directory per test, removed when the test ends.
final class TemporaryDirectory {
    let url: URL

    init(_ name: String = #function) throws {
        let safeName = name.filter { $0.isLetter || $0.isNumber }
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("memorystore-\(safeName)-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ file: String) -> String { url.appendingPathComponent(file).path }
}

/// Deterministic test content: a document's blobs and texts are functions of its SHA-256 string, so
/// a checker can recompute what a document must contain from what the store says it is.
enum Fixture {
    static let profiles = ["dense", "paper"]

    /// FNV-1a over the UTF-8 of `parts`.
    static func hash(_ parts: String...) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part.utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
            hash = (hash ^ 0xff) &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    static func blob(sha256: String, ordinal: Int, profile: String, maximumBytes: Int = 16384) -> [UInt8] {
        var state = hash(sha256, String(ordinal), profile)
        let count = 1 + Int(state % UInt64(maximumBytes))
        var bytes = [UInt8](repeating: 0, count: count)
        for index in bytes.indices {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            bytes[index] = UInt8(truncatingIfNeeded: state >> 56)
        }
        return bytes
    }

    static func referenceText(sha256: String, ordinal: Int) -> String {
        "reference \(ordinal) of \(sha256)"
    }

    /// A document whose `source` records its reference count ("refs=N"), so a checker can tell a
    /// complete document from a partial one.
    static func document(
        sha256: String,
        title: String? = nil,
        referenceCount: Int,
        profiles: [String] = profiles,
        maximumBlobBytes: Int = 16384,
        text: ((Int) -> String)? = nil
    ) -> NewDocument {
        let references = (0..<referenceCount).map { ordinal in
            NewReference(
                ordinal: ordinal,
                text: text?(ordinal) ?? referenceText(sha256: sha256, ordinal: ordinal),
                tokenCount: 10 + ordinal,
                memories: profiles.map { profile in
                    NewMemory(
                        profile: profile,
                        codec: profile == "dense" ? "int8" : "fp16",
                        blob: blob(sha256: sha256, ordinal: ordinal, profile: profile, maximumBytes: maximumBlobBytes)
                    )
                }
            )
        }
        return NewDocument(
            title: title ?? "document \(sha256)",
            source: "refs=\(referenceCount)",
            sha256: sha256,
            bytes: references.reduce(0) { $0 + $1.text.utf8.count },
            references: references
        )
    }

    static func statedReferenceCount(_ summary: DocumentSummary) -> Int? {
        summary.source.split(separator: ";").lazy
            .compactMap { $0.hasPrefix("refs=") ? Int($0.dropFirst(5)) : nil }
            .first
    }
}

/// Raw access to a store (an SQLite file or a PostgreSQL URL) for checks the public API does not
/// offer (row counts, pragmas).
func rawCount(_ location: String, _ sql: String) throws -> Int64 {
    let database: any SQLConnection = PostgresURL.isPostgres(location)
        ? try PostgresDatabase(url: location, readOnly: true, lockTimeoutMilliseconds: 5000)
        : try Database(path: location, options: [.readOnly])
    defer { database.close() }
    return try database.scalarInt(sql) ?? -1
}

/// Asserts that `body` throws exactly `expected`.
func XCTAssertThrowsStoreError<T>(
    _ expected: MemoryStoreError,
    _ body: @autoclosure () throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line
) {
    do {
        _ = try body()
        XCTFail("expected \(expected), nothing was thrown", file: file, line: line)
    } catch let error as MemoryStoreError {
        XCTAssertEqual(error, expected, file: file, line: line)
    } catch {
        XCTFail("expected \(expected), got \(error)", file: file, line: line)
    }
}

/// Asserts that `body` throws a `MemoryStoreError` matching `matches`.
func XCTAssertThrowsStoreError<T>(
    _ body: @autoclosure () throws -> T,
    file: StaticString = #filePath,
    line: UInt = #line,
    _ matches: (MemoryStoreError) -> Bool
) {
    do {
        _ = try body()
        XCTFail("expected a MemoryStoreError, nothing was thrown", file: file, line: line)
    } catch let error as MemoryStoreError {
        XCTAssertTrue(matches(error), "unexpected error: \(error)", file: file, line: line)
    } catch {
        XCTFail("expected a MemoryStoreError, got \(error)", file: file, line: line)
    }
}

/// Collects failures from background threads, for the test thread to report.
final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var messages: [String] = []

    func record(_ message: String) { lock.withLock { messages.append(message) } }
    var all: [String] { lock.withLock { messages } }
}
