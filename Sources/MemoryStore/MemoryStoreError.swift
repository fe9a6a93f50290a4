import CSQLite
import Foundation

/// Everything a `MemoryStore` can fail with, each with a message a user can act on.
public enum MemoryStoreError: Error, Sendable, Equatable, CustomStringConvertible, LocalizedError {
    /// A document with the same SHA-256 is already stored (the ingest treats this as "skip").
    case duplicateDocument(existingId: Int64)
    /// No document has this id.
    case documentNotFound(id: Int64)
    /// A write was asked of a store opened read-only, or of a file the process cannot write.
    case readOnly(path: String)
    /// A read-only open of a path where no store exists.
    case databaseNotFound(path: String)
    /// The file could not be opened at all (missing directory, permissions, ...).
    case cannotOpen(path: String, detail: String)
    /// The file is an SQLite database but not a memory3 store.
    case notAMemoryStore(path: String, detail: String)
    /// The store was written by a newer memory3 with a schema this build does not know.
    case schemaTooNew(path: String, found: Int, supported: Int)
    /// The store needs migrating, which a read-only open cannot do.
    case migrationRequired(path: String, found: Int, required: Int)
    /// The file is not a database or its contents are damaged.
    case corrupt(path: String, detail: String)
    /// Another connection held the write lock for longer than the busy timeout.
    case busy(path: String, detail: String)
    /// The document breaks a rule of the schema (a repeated ordinal or profile, a negative count, ...);
    /// nothing of it was stored.
    case invalidDocument(String)
    /// A memory was offered for a reference that does not exist.
    case referenceNotFound(id: Int64)
    /// The ingestion was finished (cancelled, superseded) or is unknown: nothing was written.
    case ingestionNotPending(id: String)
    /// Another process carries this ingestion now (it took it over): nothing was written.
    case ingestionHeldElsewhere(id: String, owner: String)
    /// The disk holding the store is full: nothing of the write was kept.
    case diskFull(path: String)
    /// The store was closed.
    case closed(path: String)
    /// Any other SQLite failure.
    case sqlite(path: String, SQLiteError)

    public var description: String {
        switch self {
        case .duplicateDocument(let id):
            return "a document with the same content (SHA-256) is already stored as document \(id)"
        case .documentNotFound(let id):
            return "no document with id \(id)"
        case .readOnly(let path):
            return "the memory store \(path) is open read-only (or the file is not writable); writes are refused"
        case .databaseNotFound(let path):
            return "no memory store at \(path); create it by opening it once read-write (e.g. by ingesting documents)"
        case .cannotOpen(let path, let detail):
            return "cannot open the memory store \(path): \(detail)"
        case .notAMemoryStore(let path, let detail):
            return "\(path) is an SQLite database but not a memory3 memory store (\(detail))"
        case .schemaTooNew(let path, let found, let supported):
            return "the memory store \(path) has schema version \(found), newer than this build supports (\(supported)); upgrade memory3"
        case .migrationRequired(let path, let found, let required):
            return "the memory store \(path) has schema version \(found) and needs migrating to \(required); open it once read-write"
        case .corrupt(let path, let detail):
            return "the memory store \(path) is damaged or not a database (\(detail)); restore it from a backup or re-ingest"
        case .busy(let path, let detail):
            return "the memory store \(path) is locked by another writer (\(detail)); retry later"
        case .invalidDocument(let detail):
            return "invalid document, nothing was stored: \(detail)"
        case .referenceNotFound(let id):
            return "no reference with id \(id)"
        case .ingestionNotPending(let id):
            return "ingestion \(id) is not pending (it was cancelled, superseded or has finished)"
        case .ingestionHeldElsewhere(let id, let owner):
            return "ingestion \(id) is carried by another process (\(owner))"
        case .diskFull(let path):
            return "the disk holding the memory store \(path) is full; nothing of this write was kept (free some space and retry)"
        case .closed(let path):
            return "the memory store \(path) is closed"
        case .sqlite(let path, let error):
            return "memory store \(path): \(error)"
        }
    }

    public var errorDescription: String? { description }

    /// A failure that says nothing about the request: the store was busy, or the database server
    /// could not be reached (a restart, a failover). Worth trying again later.
    public var isTransient: Bool {
        switch self {
        case .busy: return true
        case .sqlite(_, let error): return error.code == SQLITE_IOERR && error.sqlState != nil
        default: return false
        }
    }

    /// Classifies an SQLite failure into the case a caller can act on.
    init(_ error: SQLiteError, path: String) {
        if error.isReadOnly {
            self = .readOnly(path: path)
        } else if error.isCorrupt {
            self = .corrupt(path: path, detail: error.message)
        } else if error.isFull {
            self = .diskFull(path: path)
        } else if error.isBusy {
            self = .busy(path: path, detail: error.message)
        } else {
            self = .sqlite(path: path, error)
        }
    }
}
