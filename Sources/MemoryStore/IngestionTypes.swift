import Foundation

// The value types of durable ingestion: an accepted document waiting for (or done with) encoding.

/// Where an ingestion is. `queued` and `encoding` are pending (resumed after a restart); the rest
/// are final.
public enum IngestionState: String, Sendable, Equatable, CaseIterable, Codable {
    case queued, encoding, ready, skipped, failed, cancelled

    public var isPending: Bool { self == .queued || self == .encoding }
}

/// A document accepted for ingestion: written, bytes and all, before the client is told "accepted".
public struct NewIngestion: Sendable, Equatable {
    /// Unique, chosen by the caller (the server hands it out as `ing_...`).
    public var id: String
    /// The document's stable key (a source path, a client's `external_id`); a document with the
    /// same key is replaced when this ingestion is ready. Nil: no key, a new document.
    public var externalKey: String?
    public var title: String
    public var source: String
    /// How the text is cut into references (`TextFormat`'s raw value, opaque to the store).
    public var format: String
    public var content: [UInt8]
    /// Hex SHA-256 of `content`.
    public var sha256: String
    /// A document id this ingestion replaces when ready (PUT /v1/documents/{id}).
    public var replacing: Int64?
    /// The process that will carry it (`IngestionOwner.current`); nil: whoever claims it.
    public var owner: String?

    public init(id: String, externalKey: String?, title: String, source: String, format: String, content: [UInt8],
                sha256: String, replacing: Int64? = nil, owner: String? = nil) {
        self.owner = owner
        self.id = id
        self.externalKey = externalKey
        self.title = title
        self.source = source
        self.format = format
        self.content = content
        self.sha256 = sha256
        self.replacing = replacing
    }
}

/// An ingestion as stored.
public struct IngestionRecord: Sendable, Equatable {
    public var id: String
    public var externalKey: String?
    public var title: String
    public var source: String
    public var format: String
    public var sha256: String
    public var bytes: Int
    public var replacing: Int64?
    public var state: IngestionState
    /// Known once the document has been cut into references.
    public var referencesTotal: Int?
    /// References encoded and committed (they survive a restart).
    public var referencesDone: Int
    /// While encoding: the staged document; when ready or skipped: the document that holds the text.
    public var documentId: Int64?
    /// Why it failed, was cancelled or skipped.
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// The process carrying it, and when it last committed (see `MemoryStore.claimIngestion`).
    public var owner: String?
    public var heartbeat: Date?
}

extension IngestionRecord {
    /// Whether `owner` may take this ingestion over: it is pending, and it has no owner, is
    /// `owner`'s already, or its owner is gone (a dead process of this host, an earlier process
    /// with this one's pid) or has not beaten for `staleAfter` seconds. The one rule behind
    /// `MemoryStore.claimIngestion` (which decides, under the writer lock) and the servers'
    /// rescans (which only skip what they could not claim).
    public func isClaimable(by owner: String, staleAfter: Double, now: Date = Date(),
                            isAlive: (String) -> Bool = IngestionOwner.isAlive) -> Bool {
        guard state.isPending else { return false }
        guard let holder = self.owner, holder != owner, isAlive(holder),
              !IngestionOwner.isEarlierProcess(holder, heartbeat: heartbeat), let beat = heartbeat else { return true }
        return now.timeIntervalSince(beat) >= staleAfter
    }
}

/// Who carries a pending ingestion: `host:pid:random`, one per process.
public enum IngestionOwner {
    public static let current: String = {
        var generator = SystemRandomNumberGenerator()
        let nonce = String(UInt32.random(in: 0 ... .max, using: &generator), radix: 16)
        return "\(hostName):\(getpid()):\(nonce)"
    }()

    /// When this process started (first use of the owner name, at latest).
    public static let processStarted = Date()

    /// Whether `owner` is an earlier process of this host with this process's own pid: a container
    /// restarted with the same host name, its server pid 1 again. Gone for sure when its last
    /// heartbeat predates this process (two live replicas misconfigured with one host name are
    /// both pid 1 too, but beat after each other's start).
    public static func isEarlierProcess(_ owner: String, heartbeat: Date?) -> Bool {
        let parts = owner.split(separator: ":")
        guard parts.count == 3, String(parts[0]) == hostName, Int32(parts[1]) == getpid(), owner != current else { return false }
        return (heartbeat ?? .distantPast) < processStarted
    }

    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown-host" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// False only when `owner` names a process of this host that no longer exists (a crashed
    /// server or CLI): its ingestions can be taken over at once. Other hosts' owners are presumed
    /// alive (their heartbeat decides).
    public static func isAlive(_ owner: String) -> Bool {
        let parts = owner.split(separator: ":")
        guard parts.count == 3, String(parts[0]) == hostName, let pid = Int32(parts[1]) else { return true }
        if owner == current || pid == getpid() { return true }  // another nonce with our pid: see `isEarlierProcess`
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
