import Memory3Memory
import MemoryStore
import Synchronization

/// An ingestion on the generation worker: one `IngestionJob` step (one reference encoded, a batch
/// committed) between completions. Stopping the server abandons nothing: the ingestion stays
/// recorded as pending and the next start resumes it.
final class IngestionTask: BackgroundTask, @unchecked Sendable {
    let job: IngestionJob
    /// Told once, when the job has finished or stopped (metrics, log).
    let onFinish: @Sendable (IngestionJob) -> Void
    /// Told the progress after every step (the log throttles it).
    let onProgress: @Sendable (IngestionJob.Progress) -> Void
    /// The job's progress, published after every step for status requests on other threads.
    private let published = Mutex(IngestionJob.Progress())

    init(job: IngestionJob, onProgress: @escaping @Sendable (IngestionJob.Progress) -> Void = { _ in },
         onFinish: @escaping @Sendable (IngestionJob) -> Void) {
        self.job = job
        self.onProgress = onProgress
        self.onFinish = onFinish
    }

    var id: String { job.id }
    var progress: IngestionJob.Progress { published.withLock { $0 } }

    func step() -> Bool {
        let more = job.step()
        published.withLock { $0 = job.progress }
        if more { onProgress(job.progress) } else { onFinish(job) }
        return more
    }

    func abandon() {}
}

/// The ingestions this process is running, by id: so that a resumed one is never run twice, and
/// status requests can show progress more recent than the last committed batch.
final class LiveIngestions: Sendable {
    private let tasks = Mutex<[String: IngestionTask]>([:])

    /// Adds the task unless one with its id runs; false when it was already there.
    func add(_ task: IngestionTask) -> Bool {
        tasks.withLock { tasks in
            guard tasks[task.id] == nil else { return false }
            tasks[task.id] = task
            return true
        }
    }

    func remove(_ id: String) { _ = tasks.withLock { $0.removeValue(forKey: id) } }
    func task(_ id: String) -> IngestionTask? { tasks.withLock { $0[id] } }
    var count: Int { tasks.withLock { $0.count } }
}

/// What GET /v1/documents/ing_... shows while (and after) a document is ingested.
struct IngestionSnapshot: Encodable, Sendable {
    let id: String
    let object = "document.ingestion"
    let title: String
    let external_id: String?
    let status: IngestionState
    let references_done: Int
    let references_total: Int?
    let document_id: Int64?
    let error: String?
    let created_at: Int
    let updated_at: Int
    let status_url: String

    init(_ record: IngestionRecord, live: IngestionJob.Progress? = nil) {
        id = record.id
        title = record.title
        external_id = record.externalKey
        status = record.state
        // A running job has encoded more than its last committed batch.
        references_done = record.state == .encoding ? max(record.referencesDone, live?.referencesDone ?? 0) : record.referencesDone
        references_total = record.referencesTotal
        document_id = record.state == .encoding ? nil : record.documentId
        error = record.error
        created_at = Int(record.createdAt.timeIntervalSince1970)
        updated_at = Int(record.updatedAt.timeIntervalSince1970)
        status_url = "/v1/documents/\(record.id)"
    }
}
