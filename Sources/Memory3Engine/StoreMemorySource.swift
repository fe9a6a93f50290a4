import Foundation
import Memory3Memory
import MemoryStore

/// Memories from the SQLite store: BM25 retrieval over reference text, memory blobs decoded
/// (and checked against the model's fingerprint) on first use and kept in an LRU cache.
public final class StoreMemorySource: MemorySource, @unchecked Sendable {
    public let store: MemoryStore
    public let profile: String
    public let modelFingerprint: String
    private let cache: LRUCache<Int64, EncodedMemory>

    public init(store: MemoryStore, profile: String = "dense", modelFingerprint: String, cacheBytes: Int = 256 << 20) {
        self.store = store
        self.profile = profile
        self.modelFingerprint = modelFingerprint
        self.cache = LRUCache(budgetBytes: cacheBytes)
    }

    public func retrieve(_ query: String, limit: Int) throws -> [RetrievedReference] {
        try store.search(query, limit: limit, profile: profile).map {
            RetrievedReference(referenceId: $0.referenceId, documentId: $0.documentId, score: $0.score)
        }
    }

    public func memory(for referenceId: Int64) throws -> EncodedMemory {
        if let cached = cache.value(for: referenceId) { return cached }
        guard let (_, blob) = try store.memoryBlob(referenceId: referenceId, profile: profile) else {
            throw MemoryEngineError.missingMemory(referenceId: referenceId, profile: profile)
        }
        let memory = try MemoryCodec.decode(blob, expectedFingerprint: modelFingerprint).memory
        cache.insert(memory, bytes: (memory.keys.count + memory.values.count) * MemoryLayout<Float>.size, for: referenceId)
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
