/// Which references one chunk of the context attended to: returned to the caller so an answer
/// can say which memories it used.
public struct ChunkRecord: Sendable, Codable, Equatable {
    public enum Phase: String, Sendable, Codable {
        case prompt
        case generation
    }

    public struct UsedReference: Sendable, Codable, Equatable {
        public var referenceId: Int64
        public var documentId: Int64
        /// Retrieval score (BM25).
        public var score: Double
        /// Rank in the read (0 = the memory attention favours).
        public var rank: Int
        /// The attention-logit bias its keys got.
        public var bias: Float
        /// The retrieval head's attention mass, when reranked.
        public var headMass: Float?
    }

    public var phase: Phase
    /// Index of the chunk's first token in the whole sequence (prompt then generated tokens).
    public var firstToken: Int
    public var tokenCount: Int
    /// The retrieval query (the chunk's text with control tokens removed).
    public var query: String
    public var references: [UsedReference]
}
