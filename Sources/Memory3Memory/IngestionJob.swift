import Foundation
import MemoryStore

/// One recorded ingestion carried forward a step at a time: the first step plans (or skips a
/// document whose content is stored), each later step encodes one reference and commits a batch
/// when it is full, the last makes the document visible. Resumes from what the store holds, so
/// a job made after a restart goes on where the crashed one stopped.
///
/// Driven by one thread at a time (the server's generation worker, the CLI's loop); `progress`
/// and `result` may be read by that thread between steps.
public final class IngestionJob: @unchecked Sendable {
    public struct Progress: Sendable, Equatable {
        public var referencesDone = 0
        public var referencesTotal: Int?
        /// References encoded in this run (a resumed ingestion started at its committed count).
        public var referencesEncoded = 0
        /// Reference tokens encoded in this run (the prefix not counted).
        public var tokensDone = 0
        /// Tokens the model ran in this run (prefix included).
        public var modelTokens = 0
        /// Bytes of the memories encoded in this run.
        public var memoryBytes = 0

        public init() {}
    }

    public enum Result: Sendable, Equatable {
        /// Not finished yet.
        case pending
        /// Stored (new, or replacing the previous version under its key or id).
        case ready(documentId: Int64)
        /// The same content is stored as this document: nothing was encoded.
        case skipped(existingDocumentId: Int64)
        case failed(IngestFileError)
    }

    public let id: String
    let pipeline: IngestionPipeline
    private var plan: [ReferenceChunk]?
    /// Index in `plan` of the next reference to encode.
    private var next = 0
    private var encodedThisRun = 0
    private var batch: [NewReference] = []
    public private(set) var progress = Progress()
    public private(set) var result = Result.pending

    init(id: String, pipeline: IngestionPipeline) {
        self.id = id
        self.pipeline = pipeline
    }

    var store: MemoryStore { pipeline.store }
    /// Stopped without an outcome (the store was closed, or another process carries the
    /// ingestion); a new job resumes it.
    public private(set) var stopped = false
    /// Another live process carries this ingestion.
    public private(set) var heldElsewhere = false
    /// The ingestion was already final when this job looked (another process finished it, or it was
    /// cancelled): `result` is the stored outcome, not this job's work.
    public private(set) var finishedElsewhere = false
    /// Why the job stopped with its ingestion left pending for a later try (a busy or unreachable store).
    public private(set) var pausedBy: String?
    public var isFinished: Bool { result != .pending || stopped }

    /// Runs one step; false when the ingestion is finished (or was finished elsewhere).
    public func step() -> Bool {
        guard !isFinished else { return false }
        do {
            if plan == nil { return try start() }
            return try encodeNext()
        } catch MemoryStoreError.ingestionNotPending {
            adoptStoredOutcome()
        } catch MemoryStoreError.ingestionHeldElsewhere {
            // Another process took it over (this one looked gone or stale): it carries on.
            batch = []
            stopped = true
            heldElsewhere = true
        } catch MemoryStoreError.closed {
            // The process is stopping: the ingestion stays pending in the store and the next run
            // resumes it. `result` stays `.pending`.
            batch = []
            stopped = true
        } catch let error as MemoryStoreError where error.isTransient {
            // The database was busy or unreachable: the ingestion stays pending (its committed
            // batches kept) and the next rescan resumes it; the upload is not failed for it.
            batch = []
            stopped = true
            pausedBy = error.description
        } catch let error as IngestFileError {
            fail(error)
        } catch let error as MemoryStoreError {
            fail(.store(error.description))
        } catch {
            fail(.store("\(error)"))
        }
        return false
    }

    private func start() throws -> Bool {
        guard let record = try store.ingestion(id: id) else { throw MemoryStoreError.ingestionNotPending(id: id) }
        guard record.state.isPending else { throw MemoryStoreError.ingestionNotPending(id: id) }
        guard try store.claimIngestion(id: id, owner: pipeline.owner, staleAfter: pipeline.options.ownerStaleSeconds) else {
            throw MemoryStoreError.ingestionHeldElsewhere(id: id, owner: record.owner ?? "?")
        }
        guard let content = try store.ingestionContent(id: id) else {
            throw IngestFileError.store("the ingestion's text is missing from the store")
        }
        let text = try DocumentFile.validate(content)
        if record.state == .queued, let holder = try store.document(sha256: record.sha256) {
            // Same text under the same key (or anywhere): nothing to do.
            try store.endIngestion(id: id, state: .skipped, documentId: holder.id,
                                   error: "the same content is stored as document \(holder.id)")
            result = .skipped(existingDocumentId: holder.id)
            return false
        }
        let format = TextFormat(rawValue: record.format) ?? .plain
        let chunks: [ReferenceChunk]
        if format == .wholeText {
            chunks = [ReferenceChunk(ordinal: 0, text: text, content: text, heading: nil,
                                     tokenCount: pipeline.chunker.tokenCount(text), byteRange: 0 ..< content.count)]
        } else {
            chunks = pipeline.chunker.chunk(text, format: format)
        }
        guard !chunks.isEmpty else { throw IngestFileError.noText }
        _ = try store.beginEncoding(ingestion: id, referencesTotal: chunks.count, owner: pipeline.owner)
        // A resumed ingestion goes on after its last committed batch.
        next = record.state == .encoding ? min(record.referencesDone, chunks.count) : 0
        plan = chunks
        progress.referencesDone = next
        progress.referencesTotal = chunks.count
        return true
    }

    private func encodeNext() throws -> Bool {
        guard let plan else { return false }
        guard next < plan.count else {
            let final = try store.completeIngestion(id: id, owner: pipeline.owner)
            adopt(final)
            return false
        }
        let chunk = plan[next]
        let encoded: (memories: [NewMemory], modelTokens: Int)
        do {
            encoded = try pipeline.encoding.memories(for: chunk.text)
        } catch {
            throw IngestFileError.encoding("\(error)")
        }
        let bytes = encoded.memories.reduce(0) { $0 + $1.blob.count }
        progress.memoryBytes += bytes
        encodedThisRun += 1
        progress.referencesEncoded = encodedThisRun
        // The first memory tells what the whole document will take; later ones keep checking.
        let estimate = progress.memoryBytes * plan.count / encodedThisRun
        if estimate > pipeline.options.maxDocumentMemoryBytes {
            throw IngestFileError.memoryTooLarge(references: plan.count, estimatedBytes: estimate,
                                                 limit: pipeline.options.maxDocumentMemoryBytes)
        }
        batch.append(NewReference(ordinal: chunk.ordinal, text: chunk.text, tokenCount: chunk.tokenCount, memories: encoded.memories,
                                  embedding: pipeline.embedding?(chunk.text)))
        next += 1
        progress.referencesDone = next
        progress.tokensDone += chunk.tokenCount
        progress.modelTokens += encoded.modelTokens
        if batch.count >= pipeline.options.commitBatchReferences || next == plan.count {
            try store.appendReferences(ingestion: id, batch, referencesDone: next, owner: pipeline.owner)
            batch = []
        }
        return true
    }

    private func fail(_ error: IngestFileError) {
        batch = []
        // When even this cannot be written (the store closed), the ingestion stays pending and
        // is resumed by the next run.
        _ = try? store.endIngestion(id: id, state: .failed, error: error.description)
        result = .failed(error)
    }

    /// Finished elsewhere (cancelled, superseded): take what the store says.
    private func adoptStoredOutcome() {
        batch = []
        finishedElsewhere = true
        if let record = try? store.ingestion(id: id) {
            adopt(record)
        } else {
            result = .failed(.cancelled)
        }
    }

    private func adopt(_ record: IngestionRecord) {
        switch record.state {
        case .ready: result = .ready(documentId: record.documentId ?? 0)
        case .skipped: result = .skipped(existingDocumentId: record.documentId ?? 0)
        case .cancelled: result = .failed(.cancelled)
        case .failed: result = .failed(.store(record.error ?? "failed"))
        case .queued, .encoding: result = .failed(.store("the ingestion is still pending"))
        }
    }
}
