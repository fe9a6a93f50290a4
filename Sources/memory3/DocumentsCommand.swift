import ArgumentParser
import Foundation
import MemoryStore

struct DocumentsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "documents",
        abstract: "List, show and delete the documents of a knowledge base.",
        subcommands: [List.self, Show.self, Delete.self]
    )

    struct StoreOptions: ParsableArguments {
        @Option(name: [.customLong("store"), .customLong("db")], help: "Knowledge base: an SQLite file or postgres://user:password@host:port/database.")
        var db: String

        @Flag(help: "Print JSON.")
        var json = false

        func open(readOnly: Bool) throws -> MemoryStore {
            do { return try MemoryStore(path: db, readOnly: readOnly) } catch { throw CLIError("\(error)") }
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List documents in insertion order.")

        @OptionGroup var options: StoreOptions

        @Option(help: "Documents to list at most.")
        var limit = 1000

        @Option(help: "Documents to skip.")
        var offset = 0

        func run() throws {
            let store = try options.open(readOnly: true)
            defer { store.close() }
            let documents: [DocumentSummary]
            do { documents = try store.documents(limit: limit, offset: offset) } catch { throw CLIError("\(error)") }
            if options.json {
                try JSONOutput.print(documents.map(DocumentJSON.init))
                return
            }
            guard !documents.isEmpty else {
                print("no documents")
                return
            }
            func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
            print("\(pad("id", 6))  \(pad("refs", 5))  \(pad("bytes", 9))  \(pad("created", 20))  title (source)")
            for d in documents {
                print("\(pad(String(d.id), 6))  \(pad(String(d.referenceCount), 5))  \(pad(String(d.bytes), 9))  "
                      + "\(pad(DocumentJSON.timestamp(d.createdAt), 20))  \(d.title) (\(d.source))")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a document and its references.")

        @OptionGroup var options: StoreOptions

        @Argument(help: "Document id.")
        var id: Int64

        func run() throws {
            let store = try options.open(readOnly: true)
            defer { store.close() }
            let detail: DocumentDetail?
            do { detail = try store.document(id: id) } catch { throw CLIError("\(error)") }
            guard let detail else { throw CLIError("no document \(id) in '\(options.db)'") }
            if options.json {
                try JSONOutput.print(DocumentJSON(detail.summary, references: detail.references))
                return
            }
            let d = detail.summary
            print("document \(d.id): \(d.title)")
            print("  source   \(d.source)")
            print("  sha256   \(d.sha256)")
            print("  bytes    \(d.bytes)")
            print("  created  \(DocumentJSON.timestamp(d.createdAt))")
            print("  references \(detail.references.count), tokens \(detail.references.reduce(0) { $0 + $1.tokenCount })")
            for r in detail.references {
                print("\n[\(r.ordinal)] reference \(r.id), \(r.tokenCount) tokens")
                print(r.text)
            }
        }
    }

    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a document with its references and memories.")

        @OptionGroup var options: StoreOptions

        @Argument(help: "Document id.")
        var id: Int64

        func run() throws {
            let store = try options.open(readOnly: false)
            defer { store.close() }
            let deleted: Bool
            do { deleted = try store.deleteDocument(id: id) } catch { throw CLIError("\(error)") }
            guard deleted else { throw CLIError("no document \(id) in '\(options.db)'") }
            if options.json {
                try JSONOutput.print(["deleted": id])
            } else {
                print("deleted document \(id)")
            }
        }
    }
}

/// A document as `documents --json` prints it.
struct DocumentJSON: Encodable {
    struct Reference: Encodable {
        let id: Int64
        let ordinal: Int
        let token_count: Int
        let text: String
    }

    let id: Int64
    let title: String
    let source: String
    let sha256: String
    let bytes: Int
    let created_at: String
    let reference_count: Int
    let references: [Reference]?

    init(_ d: DocumentSummary) { self.init(d, references: nil) }

    init(_ d: DocumentSummary, references: [StoredReference]?) {
        id = d.id
        title = d.title
        source = d.source
        sha256 = d.sha256
        bytes = d.bytes
        created_at = Self.timestamp(d.createdAt)
        reference_count = d.referenceCount
        self.references = references?.map { Reference(id: $0.id, ordinal: $0.ordinal, token_count: $0.tokenCount, text: $0.text) }
    }

    /// UTC, ISO 8601 to the second.
    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }
}
