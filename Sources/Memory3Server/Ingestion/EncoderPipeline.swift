import Memory3Memory
import MemoryStore

/// Ingestion with the loaded model: `ReferenceChunker` cuts, `MemoryEncoder` encodes, the codec
/// compresses, and the store inserts the document whole — the same steps as `memory3 ingest`.
public struct EncoderPipeline: DocumentPipeline {
    public let store: MemoryStore
    public let encoder: MemoryEncoder
    public let chunker: ReferenceChunker
    public let codec: MemoryCodec
    public let fingerprint: String
    public let compressionLevel: Int32

    public init(store: MemoryStore, encoder: MemoryEncoder, fingerprint: String, codec: MemoryCodec = .default,
                compressionLevel: Int32 = MemoryCodec.defaultCompressionLevel) {
        self.store = store
        self.encoder = encoder
        self.chunker = ReferenceChunker(tokenizer: encoder.tokenizer)
        self.codec = codec
        self.fingerprint = fingerprint
        self.compressionLevel = compressionLevel
    }

    public func existingDocument(sha256: String) throws -> Int64? {
        try store.document(sha256: sha256)?.id
    }

    public func plan(_ document: UploadedDocument) -> [PlannedReference] {
        chunker.chunk(document.text, format: document.isMarkdown ? .markdown : .plain).map {
            PlannedReference(ordinal: $0.ordinal, text: $0.text, tokenCount: $0.tokenCount)
        }
    }

    public func encode(_ reference: PlannedReference) throws -> NewReference {
        let memory = try encoder.encode(bodyTokens: encoder.bodyTokens(reference.text))
        let profile = encoder.profile.name
        let blob = try codec.encode(memory, profile: profile, fingerprint: fingerprint, compressionLevel: compressionLevel)
        return NewReference(ordinal: reference.ordinal, text: reference.text, tokenCount: reference.tokenCount,
                            memories: [NewMemory(profile: profile, codec: codec.name, blob: blob)])
    }

    public func store(_ document: UploadedDocument, sha256: String, references: [NewReference], replacing: Int64?) throws -> Int64 {
        let new = NewDocument(title: document.title, source: document.source, sha256: sha256, bytes: document.bytes.count,
                              references: references)
        if let replacing { return try store.replaceDocument(id: replacing, with: new) }
        return try store.insertDocument(new)
    }

    public func sha256(_ bytes: [UInt8]) -> String { ModelFingerprint.sha256Hex(bytes) }
}
