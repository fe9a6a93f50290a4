import Memory3Memory

/// One retrieval hit.
public struct RetrievedReference: Sendable, Codable, Equatable {
    public var referenceId: Int64
    public var documentId: Int64
    /// Higher is better: BM25's score, the cosine, or the hybrid blend, by the retriever that found
    /// it (after reranking, the order changes, not the score).
    public var score: Double
    /// The parts of a hybrid score (BM25's score, nil when BM25 did not find it; the cosine).
    public var bm25Score: Double?
    public var cosine: Double?

    public init(referenceId: Int64, documentId: Int64, score: Double, bm25Score: Double? = nil, cosine: Double? = nil) {
        self.referenceId = referenceId
        self.documentId = documentId
        self.score = score
        self.bm25Score = bm25Score
        self.cosine = cosine
    }
}

/// Where the generator gets memories: a retriever over reference text, and the encoded memory
/// and text of each reference. The store-backed source is `StoreMemorySource`.
public protocol MemorySource: Sendable {
    /// The best `limit` references for `query`, by `retriever` (nil: the source's default).
    func retrieve(_ query: String, limit: Int, retriever: RetrieverKind?) throws -> [RetrievedReference]
    func memory(for referenceId: Int64) throws -> EncodedMemory
    func text(for referenceId: Int64) throws -> String
}

extension MemorySource {
    /// The best `limit` references for `query` by the source's default retriever.
    public func retrieve(_ query: String, limit: Int) throws -> [RetrievedReference] {
        try retrieve(query, limit: limit, retriever: nil)
    }
}
