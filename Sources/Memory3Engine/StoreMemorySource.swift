import Foundation
import Synchronization
import Memory3Memory
import MemoryStore

/// Memories from the SQLite store: retrieval over reference text (BM25, dense or hybrid; see
/// `RetrieverKind`), memory blobs decoded (and checked against the model's fingerprint) on first
/// use and kept in an LRU cache.
public final class StoreMemorySource: MemorySource, @unchecked Sendable {
    public let store: MemoryStore
    public let profile: String
    public let modelFingerprint: String
    /// The sentence encoder; nil: BM25 only.
    public let dense: DenseRetrieval?
    /// The store's vectors of that encoder, in memory.
    public let index: EmbeddingIndex?
    /// The retriever a request gets when it names none.
    public let defaultRetriever: RetrieverKind
    public let hybrid: HybridRanking
    /// Retrieval returns only references with a memory of this profile (nil: any reference, for
    /// measuring retrieval alone on a store of text).
    private let memoryFilter: String?
    private let cache: LRUCache<Int64, EncodedMemory>

    public init(store: MemoryStore, profile: String = "dense", modelFingerprint: String, cacheBytes: Int = 256 << 20,
                dense: DenseRetrieval? = nil, defaultRetriever: RetrieverKind? = nil, hybrid: HybridRanking = HybridRanking(),
                requiresMemory: Bool = true, index: EmbeddingIndex? = nil) {
        self.store = store
        self.profile = profile
        self.memoryFilter = requiresMemory ? profile : nil
        self.modelFingerprint = modelFingerprint
        self.cache = LRUCache(budgetBytes: cacheBytes)
        self.dense = dense
        self.index = index ?? dense.map { EmbeddingIndex(encoder: $0.encoder.name, dimensions: $0.encoder.dimensions) }
        self.defaultRetriever = defaultRetriever ?? (dense == nil ? .bm25 : .hybrid)
        self.hybrid = hybrid
    }

    /// The retrievers this source can run (dense and hybrid need the encoder).
    public var availableRetrievers: [RetrieverKind] { dense == nil ? [.bm25] : RetrieverKind.allCases }

    public func retrieve(_ query: String, limit: Int, retriever: RetrieverKind?) throws -> [RetrievedReference] {
        let kind = retriever ?? defaultRetriever
        guard kind == .bm25 || (dense != nil && index != nil) else { throw MemoryEngineError.retrieverUnavailable(kind.rawValue) }
        let vector = kind == .bm25 || limit <= 0 ? nil : dense?.encoder.embed(query)
        return try retrieve(query, vector: vector, limit: limit, retriever: kind)
    }

    /// Retrieval with the query's embedding already made (`vector`, unit length; needed by dense
    /// and hybrid). Benchmarks time the search apart from the encoder this way.
    public func retrieve(_ query: String, vector: [Float]?, limit: Int, retriever kind: RetrieverKind) throws -> [RetrievedReference] {
        guard limit > 0 else { return [] }
        guard kind == .bm25 || index != nil else { throw MemoryEngineError.retrieverUnavailable(kind.rawValue) }
        switch kind {
        case .bm25:
            return try store.search(query, limit: limit, profile: memoryFilter).map {
                RetrievedReference(referenceId: $0.referenceId, documentId: $0.documentId, score: $0.score, bm25Score: $0.score)
            }
        case .dense:
            let nearest = try denseCandidates(vector, count: limit)
            let allowed = try store.retrievableReferences(nearest.map(\.referenceId), profile: memoryFilter)
            return nearest.compactMap { hit in
                allowed[hit.referenceId].map { RetrievedReference(referenceId: hit.referenceId, documentId: $0, score: hit.cosine, cosine: hit.cosine) }
            }.prefix(limit).map { $0 }
        case .hybrid:
            // BM25 on a thread of its own while the dense scan runs here: one waits on memory
            // latency (postings), the other streams vectors. Measured at 1M references
            // (bench-retrieval, alternating): hybrid p50 8.4-9.1 ms this way, 14.5-15.2 in turn.
            let lexicalResult = Mutex<Result<[SearchHit], MemoryStoreError>?>(nil)
            let (store, filter, candidates) = (self.store, memoryFilter, hybrid.candidates)
            let group = DispatchGroup()
            DispatchQueue.global(qos: .userInitiated).async(group: group) {
                let result = Result { () throws(MemoryStoreError) in try store.search(query, limit: candidates, profile: filter) }
                lexicalResult.withLock { $0 = result }
            }
            let nearestResult = Result { try denseCandidates(vector, count: hybrid.candidates) }
            group.wait()
            let lexical = try lexicalResult.withLock { $0! }.get()
            let nearest = try nearestResult.get()
            let allowed = try store.retrievableReferences(nearest.map(\.referenceId), profile: memoryFilter)
            var documents = allowed
            for hit in lexical { documents[hit.referenceId] = hit.documentId }
            let fused = hybrid.fuse(bm25: lexical.map { (id: $0.referenceId, score: $0.score) },
                                    dense: nearest.filter { allowed[$0.referenceId] != nil }.map { (id: $0.referenceId, cosine: $0.cosine) },
                                    cosine: { id in vector.flatMap { self.index?.cosine($0, referenceId: id) } })
            return fused.prefix(limit).compactMap { hit in
                documents[hit.referenceId].map {
                    RetrievedReference(referenceId: hit.referenceId, documentId: $0, score: hit.score, bm25Score: hit.bm25, cosine: hit.cosine)
                }
            }
        }
    }

    /// The index's nearest vectors to the query's, with room for ones that retrieval may not
    /// return (staged or deleted references, another profile).
    private func denseCandidates(_ vector: [Float]?, count: Int) throws -> [(referenceId: Int64, cosine: Double)] {
        guard let index, let vector else { return [] }
        try index.refresh(from: store)
        return index.nearest(vector, count: count * 2 + 16)
    }

    public func memory(for referenceId: Int64) throws -> EncodedMemory {
        if let cached = cache.value(for: referenceId) { return cached }
        guard let (_, blob) = try store.memoryBlob(referenceId: referenceId, profile: profile) else {
            throw MemoryEngineError.missingMemory(referenceId: referenceId, profile: profile)
        }
        let memory = try MemoryCodec.decode(blob, expectedFingerprint: modelFingerprint).memory
        // The floats, and the int8 segments attention reads (made at the first swap that reads it).
        cache.insert(memory, bytes: (memory.keys.count + memory.values.count) * MemoryLayout<Float>.size + memory.int8SegmentBytes,
                     for: referenceId)
        return memory
    }

    public func text(for referenceId: Int64) throws -> String {
        guard let reference = try store.reference(id: referenceId) else {
            throw MemoryEngineError.missingReference(referenceId)
        }
        return reference.text
    }

    /// Memory-cache hits and misses, for metrics.
    public var cacheStatistics: (hits: Int, misses: Int, entries: Int, bytes: Int) { cache.statistics }
}
