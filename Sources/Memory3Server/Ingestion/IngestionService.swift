import Foundation
import Memory3Memory
import MemoryStore
import Synchronization

/// The server's side of ingestion: records uploads through the `IngestionPipeline` (written to
/// the store before the client hears 202), runs them on the generation worker, resumes the ones a
/// stopped server left pending, cancels, and reports.
final class IngestionService: Sendable {
    let scheduler: GenerationScheduler
    let metrics: ServerMetrics
    let log: RequestLog
    let maxPending: Int
    let live = LiveIngestions()
    /// Seconds between progress lines of one ingestion in the log.
    static let progressInterval = 10.0
    private let pipelineBox = Mutex<IngestionPipeline?>(nil)

    init(scheduler: GenerationScheduler, metrics: ServerMetrics, log: RequestLog, maxPending: Int) {
        self.scheduler = scheduler
        self.metrics = metrics
        self.log = log
        self.maxPending = maxPending
    }

    var pipeline: IngestionPipeline? { pipelineBox.withLock { $0 } }

    /// Lets uploads be encoded, and resumes the ingestions recorded as pending in the store; then
    /// looks again every `rescanInterval` seconds for pending ingestions that no live process
    /// carries: left behind by another process sharing the store (it crashed, or stopped
    /// committing), or, on a store shared by replicas, uploads no one has claimed yet.
    func start(_ pipeline: IngestionPipeline, rescanInterval: Double = IngestionService.rescanInterval) {
        pipelineBox.withLock { $0 = pipeline }
        do {
            // Only those no live process carries (on a shared store others' are theirs to finish).
            let pending = try pipeline.pending().filter { Self.isClaimable($0, by: pipeline) }
            if !pending.isEmpty {
                log.event("ingestion: resuming \(pending.count) pending document\(pending.count == 1 ? "" : "s") (\(pending.filter { $0.state == .encoding }.count) partly encoded)")
                for record in pending { run(record.id, on: pipeline) }
            }
        } catch {
            log.event("ingestion: cannot list pending ingestions: \(error)")
        }
        let rescan = Thread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: rescanInterval)
                guard let self, self.pipeline === pipeline else { return }
                do {
                    for record in try pipeline.pending() where self.live.task(record.id) == nil && Self.isClaimable(record, by: pipeline) {
                        self.run(record.id, on: pipeline)
                    }
                } catch MemoryStoreError.closed {
                    return  // the server is stopping
                } catch {
                    // A database restart or a busy moment: look again next time.
                    self.log.event("ingestion: cannot look for pending ingestions: \(error)")
                }
            }
        }
        rescan.name = "memory3-ingestion-rescan"
        rescan.start()
    }

    /// Default seconds between looks for pending ingestions left by other processes.
    nonisolated(unsafe) static var rescanInterval = 30.0

    /// Whether `pipeline`'s process may take `record` now (the claim in the store decides for good).
    static func isClaimable(_ record: IngestionRecord, by pipeline: IngestionPipeline) -> Bool {
        record.isClaimable(by: pipeline.owner, staleAfter: pipeline.options.ownerStaleSeconds)
    }

    /// Records the documents (all or none) and queues them; the records say where to follow them.
    func enqueue(_ documents: [UploadedDocument], replacing: Int64?) throws(APIError) -> [IngestionRecord] {
        guard let pipeline else { throw DocumentRoutes.noPipeline }
        let pending = try DocumentRoutes.storeCall { () throws(MemoryStoreError) in try pipeline.store.pendingIngestionCount() }
        guard pending + documents.count <= maxPending else {
            throw .queueFull(capacity: maxPending, retryAfter: 10)
        }
        let records: [IngestionRecord]
        do {
            records = try pipeline.enqueue(documents.map { $0.input(replacing: replacing) })
        } catch let error as IngestFileError {
            if case .tooLarge = error { throw .payloadTooLarge(error.description) }
            throw .invalidRequest("the document was refused: \(error)", param: "text")
        } catch let error as MemoryStoreError {
            throw DocumentRoutes.apiError(error)
        } catch {
            throw .internalError("\(error)")
        }
        for record in records {
            log.event("ingestion \(record.id): queued '\(record.title)' (\(record.bytes) bytes\(record.externalKey.map { ", external_id \($0)" } ?? ""))")
            run(record.id, on: pipeline)
        }
        return records
    }

    /// The stored record with the live progress of a running job.
    func snapshot(_ record: IngestionRecord) -> IngestionSnapshot {
        IngestionSnapshot(record, live: live.task(record.id)?.progress)
    }

    /// Cancels a pending ingestion. Not found: 404; already finished: 409.
    func cancel(_ id: String, store: MemoryStore) throws(APIError) -> IngestionRecord {
        guard let record = try DocumentRoutes.storeCall({ () throws(MemoryStoreError) in try store.ingestion(id: id) }) else {
            throw .notFound("no ingestion with id '\(id)'")
        }
        guard record.state.isPending else {
            let hint = record.documentId.map { "; DELETE /v1/documents/\($0) removes the document" } ?? ""
            throw .conflict("ingestion \(id) is already \(record.state.rawValue)\(hint)")
        }
        _ = try DocumentRoutes.storeCall { () throws(MemoryStoreError) in
            try store.endIngestion(id: id, state: .cancelled, error: "cancelled by the client")
        }
        log.event("ingestion \(id): cancelled by the client")
        return try DocumentRoutes.storeCall { () throws(MemoryStoreError) in try store.ingestion(id: id) } ?? record
    }

    private func run(_ id: String, on pipeline: IngestionPipeline) {
        let metrics = self.metrics, log = self.log, live = self.live
        let started = Date()
        let lastLogged = Mutex(Date())
        let progressLine: @Sendable (IngestionJob.Progress) -> Void = { progress in
            let now = Date()
            guard lastLogged.withLock({ last in
                guard now.timeIntervalSince(last) >= Self.progressInterval else { return false }
                last = now
                return true
            }) else { return }
            let seconds = now.timeIntervalSince(started)
            let rate = Double(progress.referencesEncoded) / max(seconds, 1e-9)
            let total = progress.referencesTotal ?? 0
            let eta = rate > 0 ? String(format: ", about %.0f s left", Double(max(0, total - progress.referencesDone)) / rate) : ""
            log.event(String(format: "ingestion %@: %d of %d references (%.1f/s%@)", id, progress.referencesDone, total, rate, eta),
                      ["ingestion_id": .string(id), "references_done": .stringConvertible(progress.referencesDone),
                       "references_total": .stringConvertible(total)])
        }
        let task = IngestionTask(job: pipeline.job(id), onProgress: progressLine) { job in
            live.remove(id)
            let seconds = Date().timeIntervalSince(started)
            let progress = job.progress
            switch job.result {
            case .ready(let document) where job.finishedElsewhere, .skipped(let document) where job.finishedElsewhere:
                log.event("ingestion \(id): another process sharing the store finished it (document \(document))")
            case .ready(let document):
                metrics.recordIngestion(status: "ready", references: progress.referencesDone)
                log.event(String(format: "ingestion %@: ready as document %lld (%d references, %.1f MB of memories) in %.1f s",
                                 id, document, progress.referencesDone, Double(progress.memoryBytes) / 1_048_576, seconds))
            case .skipped(let document):
                metrics.recordIngestion(status: "skipped", references: 0)
                log.event("ingestion \(id): skipped, the same content is document \(document)")
            case .failed(.cancelled):
                metrics.recordIngestion(status: "cancelled", references: 0)
                log.event("ingestion \(id): stopped, it was cancelled")
            case .failed(let error):
                metrics.recordIngestion(status: "failed", references: 0)
                log.event("ingestion \(id): failed: \(error)")
            case .pending where job.pausedBy != nil:
                log.event("ingestion \(id): paused after \(progress.referencesDone) references, the store failed (\(job.pausedBy ?? "")); a rescan resumes it")
            case .pending where job.heldElsewhere:
                break  // another process sharing the store carries it
            case .pending:
                log.event("ingestion \(id): stopped with the server after \(progress.referencesDone) references; the next start resumes it")
            }
        }
        guard live.add(task) else { return }
        scheduler.submitBackground(task)
    }
}
