import Foundation
import MemoryStore
import Tokenizer

/// A document offered for ingestion, from a file, an upload or an eval set.
public struct DocumentInput: Sendable, Equatable {
    public var title: String
    public var source: String
    /// The document's stable key (the CLI's source path, a client's `external_id`): ingesting the
    /// same key again with new text replaces the document; the same text is a no-op. Nil: none.
    public var externalKey: String?
    public var bytes: [UInt8]
    public var format: TextFormat
    /// A document id to replace (PUT /v1/documents/{id}).
    public var replacing: Int64?

    public init(title: String, source: String, externalKey: String? = nil, bytes: [UInt8], format: TextFormat,
                replacing: Int64? = nil) {
        self.title = title
        self.source = source
        self.externalKey = externalKey
        self.bytes = bytes
        self.format = format
        self.replacing = replacing
    }
}

/// The one way a document becomes explicit memory, for the CLI, the server and the eval:
/// **enqueue** (checked against the limits, written to the store with its bytes: from then on it
/// survives a crash), then, step by step in an `IngestionJob`, **plan** (cut into references),
/// **encode** one reference per step and **commit** them in batches of
/// `IngestOptions.commitBatchReferences` (memory stays bounded whatever the document's size, and
/// a restart resumes after the last batch), and finally make the document visible in one
/// transaction (replacing the previous version under the same key).
public final class IngestionPipeline: Sendable {
    public let store: MemoryStore
    public let encoding: any ReferenceEncoding
    public let chunker: ReferenceChunker
    public let options: IngestOptions
    /// This process, as the owner of the ingestions it carries (see `MemoryStore.claimIngestion`).
    public let owner: String
    /// Each reference's dense embedding, stored with it (nil: none, BM25 retrieval only).
    public let embedding: (@Sendable (String) -> StoredEmbedding)?

    public init(store: MemoryStore, encoding: any ReferenceEncoding, tokenizer: Tokenizer, options: IngestOptions = IngestOptions(),
                owner: String = IngestionOwner.current, embedding: (@Sendable (String) -> StoredEmbedding)? = nil) {
        self.store = store
        self.encoding = encoding
        self.options = options
        self.owner = owner
        self.embedding = embedding
        self.chunker = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: options.maxReferenceTokens)
    }

    /// The model encodes with `encoder`, written with the options' codec and compression level.
    public convenience init(store: MemoryStore, encoder: MemoryEncoder, fingerprint: String, options: IngestOptions = IngestOptions(),
                            owner: String = IngestionOwner.current, embedding: (@Sendable (String) -> StoredEmbedding)? = nil) {
        self.init(store: store,
                  encoding: ModelReferenceEncoding(encoder: encoder, codec: encoder.profile.codec ?? options.codec, fingerprint: fingerprint,
                                                   int8KeyLayers: options.int8KeyLayers, compressionLevel: options.compressionLevel),
                  tokenizer: encoder.tokenizer, options: options, owner: owner, embedding: embedding)
    }

    /// Why `input` cannot be ingested (too large, not text), checked before anything is written.
    public func check(_ input: DocumentInput) throws(IngestFileError) {
        guard input.bytes.count <= options.maxFileBytes else {
            throw .tooLarge(bytes: input.bytes.count, limit: options.maxFileBytes)
        }
        _ = try DocumentFile.validate(input.bytes)
    }

    /// Checks every document, then records them all in one transaction (state `queued`); nothing
    /// is recorded when one is refused. Throws `IngestFileError` or `MemoryStoreError`.
    public func enqueue(_ inputs: [DocumentInput]) throws -> [IngestionRecord] {
        for input in inputs { try check(input) }
        return try store.addIngestions(inputs.map { input in
            NewIngestion(id: Self.newID(), externalKey: input.externalKey, title: input.title, source: input.source,
                         format: input.format.rawValue, content: input.bytes,
                         sha256: ModelFingerprint.sha256Hex(input.bytes), replacing: input.replacing,
                         owner: options.claimAtUpload ? owner : nil)
        })
    }

    /// The job that carries ingestion `id` on from where the store says it is.
    public func job(_ id: String) -> IngestionJob { IngestionJob(id: id, pipeline: self) }

    /// Ingestions left queued or encoding (by a stopped server or CLI), oldest first.
    public func pending() throws(MemoryStoreError) -> [IngestionRecord] {
        try store.ingestions(states: [.queued, .encoding])
    }

    /// Cancels a pending ingestion (its committed references go); false when it is not pending.
    @discardableResult
    public func cancel(_ id: String) throws(MemoryStoreError) -> Bool {
        try store.endIngestion(id: id, state: .cancelled, error: "cancelled")
    }

    /// Enqueues one document and runs it to the end on this thread. `isCancelled` is polled
    /// between references.
    public func ingestNow(_ input: DocumentInput, progress: ((IngestionJob.Progress) -> Void)? = nil,
                          isCancelled: (() -> Bool)? = nil) -> IngestionJob.Result {
        let record: IngestionRecord
        do {
            guard let first = try enqueue([input]).first else { return .failed(.store("nothing was recorded")) }
            record = first
        } catch let error as IngestFileError {
            return .failed(error)
        } catch {
            return .failed(.store("\(error)"))
        }
        let job = self.job(record.id)
        var reported = 0
        while job.step() {
            if job.progress.referencesDone > reported {
                reported = job.progress.referencesDone
                progress?(job.progress)
            }
            if isCancelled?() == true {
                _ = try? cancel(record.id)
                return .failed(.cancelled)
            }
        }
        return job.result
    }

    static func newID() -> String {
        var generator = SystemRandomNumberGenerator()
        return "ing_" + (0 ..< 10).map { _ in String(format: "%02x", UInt8.random(in: 0 ... 255, using: &generator)) }.joined()
    }
}
