import MemoryStore

/// One reference planned from a document: its text and tokens, before encoding.
public struct PlannedReference: Sendable, Equatable {
    public var ordinal: Int
    public var text: String
    public var tokenCount: Int

    public init(ordinal: Int, text: String, tokenCount: Int) {
        self.ordinal = ordinal
        self.text = text
        self.tokenCount = tokenCount
    }
}

/// The steps that turn an uploaded document into stored memory. `EncoderPipeline` does them with
/// the loaded model and the SQLite store; tests can use a fake.
public protocol DocumentPipeline: Sendable {
    /// The stored document with this content hash, if any (uploads are deduplicated).
    func existingDocument(sha256: String) throws -> Int64?
    /// The document cut into references.
    func plan(_ document: UploadedDocument) -> [PlannedReference]
    /// One reference encoded into its memory (the expensive step: one forward pass).
    func encode(_ reference: PlannedReference) throws -> NewReference
    /// Stores the document with all its references in one transaction (replacing `replacing`),
    /// returning its id.
    func store(_ document: UploadedDocument, sha256: String, references: [NewReference], replacing: Int64?) throws -> Int64
    /// Hex SHA-256 of the document's bytes.
    func sha256(_ bytes: [UInt8]) -> String
}
