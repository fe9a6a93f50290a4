import Foundation

// The value types that go in and out of a `MemoryStore`.

/// A document to insert, with all its references and their encoded memories. Inserted in one
/// transaction: readers see all of it or none of it.
public struct NewDocument: Sendable, Equatable {
    public var title: String
    public var source: String
    /// Hex SHA-256 of the document's content; unique in a store (the ingest's idempotence key).
    public var sha256: String
    /// Size of the document's content in bytes.
    public var bytes: Int
    public var references: [NewReference]
    /// The document's stable key (a source path, a client's `external_id`), unique when set.
    public var externalKey: String?

    public init(title: String, source: String, sha256: String, bytes: Int, references: [NewReference], externalKey: String? = nil) {
        self.title = title
        self.source = source
        self.sha256 = sha256
        self.bytes = bytes
        self.references = references
        self.externalKey = externalKey
    }
}

/// One reference (at most 128 tokens of a document) and its encoded memories, one per profile.
public struct NewReference: Sendable, Equatable {
    /// Position of the reference in its document, from 0; unique within the document.
    public var ordinal: Int
    public var text: String
    public var tokenCount: Int
    public var memories: [NewMemory]
    /// The reference's dense embedding, when an encoder is configured.
    public var embedding: StoredEmbedding?

    public init(ordinal: Int, text: String, tokenCount: Int, memories: [NewMemory], embedding: StoredEmbedding? = nil) {
        self.ordinal = ordinal
        self.text = text
        self.tokenCount = tokenCount
        self.memories = memories
        self.embedding = embedding
    }
}

/// A dense embedding as stored: int8 components times `scale` (see `Schema` v6).
public struct StoredEmbedding: Sendable, Equatable {
    /// The encoder that wrote it (its name and weights' digest).
    public var encoder: String
    public var scale: Float
    public var components: [Int8]

    public init(encoder: String, scale: Float, components: [Int8]) {
        self.encoder = encoder
        self.scale = scale
        self.components = components
    }

    /// `vector` quantized to int8 with one scale (largest magnitude -> 127).
    public init(encoder: String, vector: [Float]) {
        let largest = vector.reduce(Float(0)) { max($0, abs($1)) }
        let scale = largest > 0 ? largest / 127 : 1
        self.init(encoder: encoder, scale: scale, components: vector.map { Int8(max(-127, min(127, ($0 / scale).rounded()))) })
    }
}

/// One stored embedding row, as an index loads it.
public struct EmbeddingRow: Sendable, Equatable {
    /// Grows with every write (see `Schema` v6).
    public var rowId: Int64
    public var referenceId: Int64
    public var embedding: StoredEmbedding

    public init(rowId: Int64, referenceId: Int64, embedding: StoredEmbedding) {
        self.rowId = rowId
        self.referenceId = referenceId
        self.embedding = embedding
    }
}

/// An encoded memory: the blob a codec wrote for one reference under one profile.
public struct NewMemory: Sendable, Equatable {
    public var profile: String
    public var codec: String
    public var blob: [UInt8]

    public init(profile: String, codec: String, blob: [UInt8]) {
        self.profile = profile
        self.codec = codec
        self.blob = blob
    }
}

/// A stored document, without its references.
public struct DocumentSummary: Sendable, Equatable, Hashable {
    public var id: Int64
    public var title: String
    public var source: String
    public var sha256: String
    public var bytes: Int
    /// When the document was inserted (whole seconds; stored as Unix time).
    public var createdAt: Date
    public var referenceCount: Int
    /// The stable key it was ingested under, if any.
    public var externalKey: String?

    public init(id: Int64, title: String, source: String, sha256: String, bytes: Int, createdAt: Date, referenceCount: Int,
                externalKey: String? = nil) {
        self.externalKey = externalKey
        self.id = id
        self.title = title
        self.source = source
        self.sha256 = sha256
        self.bytes = bytes
        self.createdAt = createdAt
        self.referenceCount = referenceCount
    }
}

/// A stored reference.
public struct StoredReference: Sendable, Equatable, Hashable {
    public var id: Int64
    public var documentId: Int64
    public var ordinal: Int
    public var text: String
    public var tokenCount: Int

    public init(id: Int64, documentId: Int64, ordinal: Int, text: String, tokenCount: Int) {
        self.id = id
        self.documentId = documentId
        self.ordinal = ordinal
        self.text = text
        self.tokenCount = tokenCount
    }
}

/// A stored document with its references in ordinal order.
public struct DocumentDetail: Sendable, Equatable {
    public var summary: DocumentSummary
    public var references: [StoredReference]

    public init(summary: DocumentSummary, references: [StoredReference]) {
        self.summary = summary
        self.references = references
    }
}

/// One full-text search result.
public struct SearchHit: Sendable, Equatable {
    public var referenceId: Int64
    public var documentId: Int64
    /// BM25 relevance, negated from SQLite's `bm25()` so that higher is better. Comparable only
    /// within one search.
    public var score: Double

    public init(referenceId: Int64, documentId: Int64, score: Double) {
        self.referenceId = referenceId
        self.documentId = documentId
        self.score = score
    }
}

/// Counts and sizes of what a store holds.
public struct StoreStatistics: Sendable, Equatable {
    /// Memories of one profile written by one codec.
    public struct MemoryUsage: Sendable, Equatable {
        public var profile: String
        public var codec: String
        public var count: Int
        public var blobBytes: Int

        public init(profile: String, codec: String, count: Int, blobBytes: Int) {
            self.profile = profile
            self.codec = codec
            self.count = count
            self.blobBytes = blobBytes
        }
    }

    public var documents: Int
    public var references: Int
    /// Sum of the references' token counts.
    public var tokens: Int
    public var memories: Int
    /// Per (profile, codec), sorted by profile then codec.
    public var memoryUsage: [MemoryUsage]
    /// Size of the main database file (pages in use and free), excluding the WAL.
    public var fileBytes: Int
    /// Bytes in free pages, reused by later writes.
    public var freeBytes: Int

    public var blobBytes: Int { memoryUsage.reduce(0) { $0 + $1.blobBytes } }

    public init(documents: Int, references: Int, tokens: Int, memories: Int, memoryUsage: [MemoryUsage], fileBytes: Int, freeBytes: Int) {
        self.documents = documents
        self.references = references
        self.tokens = tokens
        self.memories = memories
        self.memoryUsage = memoryUsage
        self.fileBytes = fileBytes
        self.freeBytes = freeBytes
    }
}

/// What a store holds, from the counts it keeps on write (cheap to read).
public struct StoreCounts: Sendable, Equatable {
    /// Visible documents (not those still being ingested).
    public var documents: Int
    /// References, those of documents being ingested included.
    public var references: Int
    public var tokens: Int
    public var memories: Int
    /// Bytes of all memory blobs.
    public var memoryBytes: Int

    public init(documents: Int, references: Int, tokens: Int, memories: Int, memoryBytes: Int) {
        self.documents = documents
        self.references = references
        self.tokens = tokens
        self.memories = memories
        self.memoryBytes = memoryBytes
    }
}
