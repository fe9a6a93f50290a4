import Memory3Memory

/// One retrieval hit.
public struct RetrievedReference: Sendable, Codable, Equatable {
    public var referenceId: Int64
    public var documentId: Int64
    /// Higher is better (BM25 from the store; after reranking, the order changes, not the score).
    public var score: Double

    public init(referenceId: Int64, documentId: Int64, score: Double) {
        self.referenceId = referenceId
        self.documentId = documentId
        self.score = score
    }
}

/// Where the generator gets memories: a retriever over reference text, and the encoded memory
/// and text of each reference. The store-backed source is `StoreMemorySource`.
public protocol MemorySource: Sendable {
    func retrieve(_ query: String, limit: Int) throws -> [RetrievedReference]
    func memory(for referenceId: Int64) throws -> EncodedMemory
    func text(for referenceId: Int64) throws -> String
}
