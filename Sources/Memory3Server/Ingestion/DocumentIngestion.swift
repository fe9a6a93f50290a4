import Foundation
import MemoryStore
import Synchronization

/// One uploaded document on its way into the knowledge base: queued, then encoded one reference
/// per step on the generation worker (between completions), then stored in one transaction.
public final class DocumentIngestion: BackgroundTask, @unchecked Sendable {
    public enum Status: String, Sendable, Encodable {
        case queued, encoding, ready, skipped, failed, cancelled
    }

    /// What GET /v1/documents/{id} shows while (and after) a document is ingested.
    public struct Snapshot: Sendable, Encodable {
        public let id: String
        public let object = "document.ingestion"
        public let title: String
        public let status: Status
        public let references_done: Int
        public let references_total: Int?
        public let document_id: Int64?
        public let error: String?
        public let created_at: Int
        public let status_url: String
    }

    struct State {
        var status = Status.queued
        var sha256 = ""
        var plan: [PlannedReference]?
        var encoded: [NewReference] = []
        /// References encoded (kept after `encoded` is released).
        var done = 0
        var documentID: Int64?
        var error: String?
    }

    public let id: String
    public let document: UploadedDocument
    public let replacing: Int64?
    let pipeline: any DocumentPipeline
    /// Told the final status and the references stored (for the metrics).
    let onFinish: @Sendable (Status, Int) -> Void
    let createdAt = Date()
    private let state = Mutex(State())

    init(id: String, document: UploadedDocument, replacing: Int64?, pipeline: any DocumentPipeline,
         onFinish: @escaping @Sendable (Status, Int) -> Void = { _, _ in }) {
        self.id = id
        self.document = document
        self.replacing = replacing
        self.pipeline = pipeline
        self.onFinish = onFinish
    }

    public var status: Status { state.withLock { $0.status } }
    public var isFinished: Bool { ![.queued, .encoding].contains(status) }

    public var snapshot: Snapshot {
        state.withLock { s in
            Snapshot(id: id, title: document.title, status: s.status, references_done: s.done,
                     references_total: s.plan?.count, document_id: s.documentID, error: s.error,
                     created_at: Int(createdAt.timeIntervalSince1970), status_url: "/v1/documents/\(id)")
        }
    }

    public func step() -> Bool {
        let current = state.withLock { $0 }
        do {
            switch current.status {
            case .queued:
                let sha = pipeline.sha256(document.bytes)
                if let existing = try pipeline.existingDocument(sha256: sha), existing != replacing {
                    finish(.skipped, documentID: existing)
                    return false
                }
                let plan = pipeline.plan(document)
                guard !plan.isEmpty else {
                    finish(.failed, error: "the document has no text to make references from")
                    return false
                }
                state.withLock { s in
                    s.sha256 = sha
                    s.plan = plan
                    s.status = .encoding
                }
                return true
            case .encoding:
                guard let plan = current.plan else { return false }
                if current.encoded.count < plan.count {
                    let reference = try pipeline.encode(plan[current.encoded.count])
                    state.withLock { s in
                        s.encoded.append(reference)
                        s.done += 1
                    }
                    return true
                }
                let documentID = try pipeline.store(document, sha256: current.sha256, references: current.encoded, replacing: replacing)
                finish(.ready, documentID: documentID)
                return false
            default:
                return false
            }
        } catch MemoryStoreError.duplicateDocument(let existing) {
            finish(.skipped, documentID: existing)
        } catch {
            finish(.failed, error: "\(error)")
        }
        return false
    }

    public func abandon() {
        let abandoned = state.withLock { s -> Bool in
            guard s.status == .queued || s.status == .encoding else { return false }
            s.status = .cancelled
            s.error = "the server stopped before the document was stored; upload it again"
            s.encoded = []
            s.done = 0
            return true
        }
        if abandoned { onFinish(.cancelled, 0) }
    }

    private func finish(_ status: Status, documentID: Int64? = nil, error: String? = nil) {
        let stored = state.withLock { s -> Int in
            s.status = status
            s.documentID = documentID
            s.error = error
            s.encoded = []  // the memory blobs are in the store now (or not needed)
            return status == .ready ? s.done : 0
        }
        onFinish(status, stored)
    }
}

/// The ingestions the server knows about: those running and the latest finished ones.
public final class IngestionRegistry: Sendable {
    private let jobs = Mutex<[String: DocumentIngestion]>([:])
    private let order = Mutex<[String]>([])
    /// Finished ingestions kept for status queries.
    let keepFinished = 1000

    public init() {}

    func add(_ job: DocumentIngestion) {
        jobs.withLock { $0[job.id] = job }
        order.withLock { $0.append(job.id) }
        prune()
    }

    public func job(_ id: String) -> DocumentIngestion? { jobs.withLock { $0[id] } }

    /// Ingestions not finished yet.
    public var pendingCount: Int { jobs.withLock { $0.values.filter { !$0.isFinished }.count } }

    private func prune() {
        let ids = order.withLock { $0 }
        guard ids.count > keepFinished * 2 else { return }
        var removed = Set<String>()
        jobs.withLock { jobs in
            for id in ids where removed.count < ids.count - keepFinished {
                if let job = jobs[id], job.isFinished {
                    jobs.removeValue(forKey: id)
                    removed.insert(id)
                }
            }
        }
        order.withLock { $0.removeAll { removed.contains($0) } }
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "ing_" + (0 ..< 10).map { _ in String(format: "%02x", UInt8.random(in: 0 ... 255, using: &generator)) }.joined()
    }
}
