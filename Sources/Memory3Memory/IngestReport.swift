import Foundation

/// Why one file was not ingested. The rest of the batch goes on.
public enum IngestFileError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound
    case unreadable(String)
    case unsupportedType(extension: String, supported: [String])
    case tooLarge(bytes: Int, limit: Int)
    case empty
    /// A NUL byte at `offset`: not text.
    case binary(offset: Int)
    case invalidUTF8(offset: Int)
    /// Only whitespace: nothing to remember.
    case noText
    /// Its memories would not fit the per-document limit (they are written in one transaction).
    case memoryTooLarge(references: Int, estimatedBytes: Int, limit: Int)
    case encoding(String)
    case store(String)
    case cancelled

    public var description: String {
        switch self {
        case .notFound: return "no such file or directory"
        case .unreadable(let why): return "cannot read: \(why)"
        case .unsupportedType(let ext, let supported):
            return "unsupported file type '.\(ext)' (ingest takes \(supported.map { "." + $0 }.joined(separator: ", ")))"
        case .tooLarge(let bytes, let limit):
            return "file is \(Self.megabytes(bytes)), over the \(Self.megabytes(limit)) limit (raise it with --max-file-mb)"
        case .empty: return "file is empty"
        case .binary(let offset): return "binary file (NUL byte at offset \(offset)), not text"
        case .invalidUTF8(let offset): return "not valid UTF-8 (first bad byte at offset \(offset))"
        case .noText: return "file holds only whitespace"
        case .memoryTooLarge(let refs, let bytes, let limit):
            return "\(refs) references would need ~\(Self.megabytes(bytes)) of memories, over the \(Self.megabytes(limit)) per-document limit; split the file or use a smaller codec or sparser profile"
        case .encoding(let why): return "encoding failed: \(why)"
        case .store(let why): return "store failed: \(why)"
        case .cancelled: return "cancelled"
        }
    }

    static func megabytes(_ bytes: Int) -> String {
        String(format: "%.1f MB", Double(bytes) / 1_048_576)
    }
}

/// What happened to one file.
public struct IngestedFile: Sendable, Equatable {
    public enum Outcome: Sendable, Equatable {
        case added(documentId: Int64)
        /// Same content already stored (idempotent re-ingest).
        case skipped(existingDocumentId: Int64)
        case failed(IngestFileError)
    }

    public let path: String
    public let outcome: Outcome
    public let references: Int
    /// Reference tokens (the prefix not counted).
    public let tokens: Int
    /// Bytes of the stored memory blobs.
    public let memoryBytes: Int
}

/// The state of a run, reported after every reference.
public struct IngestProgress: Sendable, Equatable {
    public let file: String
    public let filesDone: Int
    public let filesTotal: Int
    public let referencesDone: Int
    /// Planned before encoding starts; files that changed since may move it a little.
    public let referencesTotal: Int
    public let tokensDone: Int
    public let elapsedSeconds: Double

    public var referencesPerSecond: Double { elapsedSeconds > 0 ? Double(referencesDone) / elapsedSeconds : 0 }
    public var tokensPerSecond: Double { elapsedSeconds > 0 ? Double(tokensDone) / elapsedSeconds : 0 }
    /// Seconds left at the current rate; nil before the first reference.
    public var etaSeconds: Double? {
        guard referencesDone > 0, elapsedSeconds > 0 else { return nil }
        return Double(max(0, referencesTotal - referencesDone)) / referencesPerSecond
    }
}

/// The outcome of a run.
public struct IngestSummary: Sendable, Equatable {
    public var files: [IngestedFile] = []
    public var seconds: Double = 0
    /// Tokens the model ran (prefix included), for comparison with prefill speed.
    public var modelTokens = 0

    public var added: [IngestedFile] { files.filter { if case .added = $0.outcome { return true } else { return false } } }
    public var skipped: [IngestedFile] { files.filter { if case .skipped = $0.outcome { return true } else { return false } } }
    public var failed: [IngestedFile] { files.filter { if case .failed = $0.outcome { return true } else { return false } } }
    /// References and tokens of the documents added.
    public var references: Int { added.reduce(0) { $0 + $1.references } }
    public var tokens: Int { added.reduce(0) { $0 + $1.tokens } }
    public var memoryBytes: Int { added.reduce(0) { $0 + $1.memoryBytes } }
    public var referencesPerSecond: Double { seconds > 0 ? Double(references) / seconds : 0 }
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }
}
