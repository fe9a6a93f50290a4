import Foundation
import Memory3Engine
import Memory3Model
import MemoryStore
import XCTest

/// The in-memory vector index (exact scan, binary prefilter + rescore) and the hybrid fusion.
final class EmbeddingIndexTests: XCTestCase {
    static let dimensions = 384

    /// Random unit vectors, quickly: components from the bits of a seeded generator.
    static func randomVectors(_ count: Int, seed: UInt64) -> [[Float]] {
        var generator = SeededGenerator(seed: seed)
        return (0 ..< count).map { _ in
            var v = [Float](repeating: 0, count: dimensions)
            for i in stride(from: 0, to: dimensions, by: 8) {
                let bits = generator.next()
                for j in 0 ..< 8 { v[i + j] = Float(Int8(truncatingIfNeeded: bits >> (8 * UInt64(j)))) }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
    }

    static func rows(_ vectors: [[Float]], encoder: String = "e") -> [EmbeddingRow] {
        vectors.enumerated().map { i, v in
            EmbeddingRow(rowId: Int64(i + 1), referenceId: Int64(i + 1), embedding: StoredEmbedding(encoder: encoder, vector: v))
        }
    }

    /// Two indexes of the same vectors: one that always prefilters by sign bits, one that always
    /// scans exactly.
    static func prefilteredAndExact(_ vectors: [[Float]]) -> (approximate: EmbeddingIndex, exact: EmbeddingIndex) {
        let approximate = EmbeddingIndex(encoder: "e", dimensions: dimensions)
        approximate.exactScanLimit = 0
        let exact = EmbeddingIndex(encoder: "e", dimensions: dimensions)
        let rows = Self.rows(vectors)
        approximate.load(rows)
        exact.load(rows)
        return (approximate, exact)
    }

    /// `target` moved toward a random direction: cosine with it about `closeness`.
    static func query(near target: [Float], closeness: Float, noise: [Float]) -> [Float] {
        let mixed = zip(target, noise).map { closeness * $0 + (1 - closeness * closeness).squareRoot() * $1 }
        let norm = mixed.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return mixed.map { $0 / norm }
    }

    func testExactScanMatchesBruteForceInOrder() {
        let vectors = Self.randomVectors(500, seed: 1)
        let index = EmbeddingIndex(encoder: "e", dimensions: Self.dimensions)
        index.load(Self.rows(vectors) + Self.rows(Self.randomVectors(20, seed: 2), encoder: "other"))
        XCTAssertEqual(index.count, 500)
        let query = Self.randomVectors(1, seed: 3)[0]
        let found = index.nearest(query, count: 10)
        let stored = vectors.map { StoredEmbedding(encoder: "e", vector: $0) }
        let q = StoredEmbedding(encoder: "e", vector: query)
        let brute = stored.indices.map { i -> (Int64, Float) in
            (Int64(i + 1), Float(zip(q.components, stored[i].components).reduce(Int32(0)) { $0 + Int32($1.0) * Int32($1.1) }) * q.scale * stored[i].scale)
        }.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }
        XCTAssertEqual(found.map(\.referenceId), brute.prefix(10).map(\.0))
        for (hit, exact) in zip(found, brute) { XCTAssertEqual(hit.cosine, Double(exact.1), accuracy: 1e-5) }
        // The same query gives the same answer; a re-embedded reference is found once, with its new vector.
        XCTAssertEqual(index.nearest(query, count: 10).map(\.referenceId), found.map(\.referenceId))
        index.load([EmbeddingRow(rowId: 1000, referenceId: found[0].referenceId, embedding: StoredEmbedding(encoder: "e", vector: vectors[0].map { -$0 }))])
        XCTAssertEqual(index.count, 500)
        XCTAssertFalse(index.nearest(query, count: 10).contains { $0.referenceId == found[0].referenceId && $0.cosine == found[0].cosine })
    }

    func testBinaryPrefilterKeepsTheExactTopOneAt100k() {
        let count = 100_000
        let vectors = Self.randomVectors(count, seed: 4)
        let (approximate, exact) = Self.prefilteredAndExact(vectors)
        let noise = Self.randomVectors(200, seed: 5)
        var generator = SeededGenerator(seed: 6)
        var same = 0
        for i in 0 ..< 200 {
            // Queries as close to their reference as real ones are to theirs (cosine ~0.3-0.6).
            let target = vectors[Int(generator.next() % UInt64(count))]
            let query = Self.query(near: target, closeness: 0.3 + 0.3 * Float(i) / 200, noise: noise[i])
            if approximate.nearest(query, count: 1).first?.referenceId == exact.nearest(query, count: 1).first?.referenceId { same += 1 }
        }
        XCTAssertGreaterThanOrEqual(same, 190, "the prefilter kept the exact top-1 on \(same) of 200 queries")
    }

    /// With fewer vectors than the prefilter keeps for rescoring, every vector is rescored: the
    /// prefilter's ranking is then the exact scan's (its cut-off runs past every distance).
    func testPrefilterOverFewerVectorsThanItKeepsIsExact() {
        let (approximate, exact) = Self.prefilteredAndExact(Self.randomVectors(500, seed: 7))
        for query in Self.randomVectors(20, seed: 8) {
            let got = approximate.nearest(query, count: 10), want = exact.nearest(query, count: 10)
            XCTAssertEqual(got.map(\.referenceId), want.map(\.referenceId))
            XCTAssertEqual(got.map(\.cosine), want.map(\.cosine))
        }
    }

    func testIndexFollowsTheStore() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("index-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try MemoryStore(path: directory.appendingPathComponent("s.sqlite").path)
        let vectors = Self.randomVectors(4, seed: 7)
        func document(_ n: Int) -> NewDocument {
            NewDocument(title: "d\(n)", source: "t", sha256: "s\(n)", bytes: 1, references: [
                NewReference(ordinal: 0, text: "doc \(n)", tokenCount: 2, memories: [], embedding: StoredEmbedding(encoder: "e", vector: vectors[n])),
            ])
        }
        let index = EmbeddingIndex(encoder: "e", dimensions: Self.dimensions)
        let first = try store.insertDocument(document(0))
        try index.refresh(from: store)
        XCTAssertEqual(index.count, 1)
        _ = try store.insertDocument(document(1))
        _ = try store.insertDocument(document(2))
        try index.refresh(from: store)
        XCTAssertEqual(index.count, 3)
        _ = try store.deleteDocument(id: first)
        try index.refresh(from: store)
        XCTAssertEqual(index.count, 2, "a deletion is seen (reload)")
        XCTAssertEqual(Set(index.nearest(vectors[0], count: 5).map(\.referenceId)).count, 2)
    }

    func testHybridFusionBlendsAndIsDeterministic() {
        var ranking = HybridRanking()
        ranking.bm25Weight = 0.5
        let bm25: [(id: Int64, score: Double)] = [(1, 10), (2, 5), (3, 5)]
        let dense: [(id: Int64, cosine: Double)] = [(4, 0.9), (2, 0.6)]
        let cosines: [Int64: Double] = [1: 0.2, 3: 0.6]
        let fused = ranking.fuse(bm25: bm25, dense: dense, cosine: { cosines[$0] })
        // 1: 0.5 + 0.1 = 0.6; 2: 0.25 + 0.3 = 0.55; 3: 0.25 + 0.3 = 0.55; 4: 0 + 0.45.
        XCTAssertEqual(fused.map(\.referenceId), [1, 2, 3, 4])
        XCTAssertEqual(fused.map(\.score), [0.6, 0.55, 0.55, 0.45].map { $0 }, accuracy: 1e-12)
        XCTAssertEqual(fused[3].bm25, nil)
        XCTAssertEqual(fused[0].cosine, 0.2)
        for _ in 0 ..< 5 {
            XCTAssertEqual(ranking.fuse(bm25: bm25.shuffled(), dense: dense.shuffled(), cosine: { cosines[$0] }), fused)
        }
    }
}

func XCTAssertEqual(_ a: [Double], _ b: [Double], accuracy: Double, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, file: file, line: line)
    for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: accuracy, file: file, line: line) }
}
