import Foundation
import Memory3Memory
import Memory3Model
import MemoryStore
import Tokenizer

/// How references are found for a chunk of text.
public enum RetrieverKind: String, Sendable, Codable, CaseIterable {
    /// Full-text search (SQLite FTS5, BM25): good at the rare words a question shares with its page.
    case bm25
    /// Cosine of sentence embeddings (all-MiniLM-L6-v2): good at paraphrase, weak at invented names.
    case dense
    /// Both, blended: `HybridRanking`.
    case hybrid
}

/// BM25 and dense scores fused into one ranking: each candidate of either list (BM25's and the
/// dense scan's top `candidates`) scores `bm25Weight` * its BM25 score over the best BM25 score
/// (0 when BM25 did not find it) + (1 - `bm25Weight`) * its cosine. A calibrated blend, not rank
/// fusion: measured on our development set (docs/retrieval.md), RRF lost 12 points of recall@1 to
/// it, since ranks throw away how far ahead BM25's first is; 0.5 was the best weight there.
public struct HybridRanking: Sendable, Equatable {
    public var bm25Weight = 0.5
    /// Candidates taken from each retriever before fusing.
    public var candidates = 50

    public init() {}

    /// One fused hit with its parts.
    public struct Scored: Sendable, Equatable {
        public var referenceId: Int64
        public var score: Double
        public var bm25: Double?
        public var cosine: Double?
    }

    /// The fused ranking of BM25 hits (`bm25`: id and score) and dense hits (id and cosine), best
    /// first; ties broken by reference id so that the order is the same on every run. `cosine`
    /// gives the cosine of a BM25 hit the dense list lacks (nil: none stored, counted as 0).
    public func fuse(bm25: [(id: Int64, score: Double)], dense: [(id: Int64, cosine: Double)],
                     cosine: (Int64) -> Double?) -> [Scored] {
        let best = bm25.map(\.score).max() ?? 0
        var parts: [Int64: (bm25: Double?, cosine: Double?)] = [:]
        for hit in bm25 { parts[hit.id, default: (nil, nil)].bm25 = hit.score }
        for hit in dense { parts[hit.id, default: (nil, nil)].cosine = hit.cosine }
        var scored: [Scored] = []
        for (id, part) in parts {
            let c = part.cosine ?? cosine(id)
            let lexical = best > 0 ? (part.bm25 ?? 0) / best : 0
            scored.append(Scored(referenceId: id, score: bm25Weight * lexical + (1 - bm25Weight) * (c ?? 0), bm25: part.bm25, cosine: c))
        }
        return scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.referenceId < $1.referenceId }
    }
}

/// The dense side of retrieval: the sentence encoder, and how its vectors are stored. (Each
/// store's vectors are held by its `StoreMemorySource`'s own `EmbeddingIndex`.)
public final class DenseRetrieval: Sendable {
    public let encoder: SentenceEncoder

    /// The default encoder's folder (`scripts/fetch-model.sh minilm`).
    public static let defaultFolder = "models/all-MiniLM-L6-v2"

    /// Loads the encoder in `folder`, named by the folder and the SHA-256 of its weights (vectors
    /// of other weights are never compared with its own). The name leaves out `precision`: stored
    /// vectors are int8 (one scale each), whose rounding is of the size of what bfloat16 moves
    /// (cosine 0.99998 to float32's, recall unchanged; docs/retrieval.md), and a reference holds one
    /// vector, so a name per precision would make every store re-embed all of itself on upgrade
    /// (or on any switch) and retrieve from a half-embedded store meanwhile.
    public static func load(folder: String, threads: Int, precision: SentenceEncoder.Precision = .bfloat16) throws -> DenseRetrieval {
        let path = folder + "/model.safetensors"
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.invalidWeights("cannot read \(path); fetch the default encoder with `scripts/fetch-model.sh minilm`")
        }
        // The file's bytes are held only while loading: the encoder keeps its layers and reads
        // word-embedding rows from the file.
        let weights = try SafetensorsFile(path: path)
        let digest = ModelFingerprint.sha256Hex(weights.data).prefix(16)
        let tokenizer = try WordPieceTokenizer(vocabularyFile: folder + "/vocab.txt")
        let name = URL(fileURLWithPath: folder).lastPathComponent + "-" + digest
        var config = SentenceEncoder.Config()
        config.precision = precision
        return DenseRetrieval(encoder: try SentenceEncoder(weights: weights, tokenizer: tokenizer, name: name, config: config, threads: threads))
    }

    public init(encoder: SentenceEncoder) {
        self.encoder = encoder
    }

    /// The stored form of `text`'s embedding.
    public func storedEmbedding(_ text: String) -> StoredEmbedding {
        StoredEmbedding(encoder: encoder.name, vector: encoder.embed(text))
    }

    /// `storedEmbedding` as the function an `IngestionPipeline` calls for each reference.
    public var referenceEmbedding: @Sendable (String) -> StoredEmbedding {
        { [self] in storedEmbedding($0) }
    }

    /// Embeds every reference of `store` that has no vector of this encoder yet (references
    /// written before dense retrieval was configured), `batch` per transaction. Returns how many.
    @discardableResult
    public func backfill(_ store: MemoryStore, batch: Int = 64, progress: ((Int) -> Void)? = nil) throws -> Int {
        var done = 0
        while true {
            let missing = try store.referencesWithoutEmbedding(encoder: encoder.name, limit: batch)
            guard !missing.isEmpty else { return done }
            try store.putEmbeddings(missing.map { (referenceId: $0.id, embedding: storedEmbedding($0.text)) })
            done += missing.count
            progress?(done)
        }
    }
}
