import Foundation
import XCTest
@testable import MemoryStore

/// The in-memory index ranks exactly as FTS5's bm25() does: the same references, in the same order,
/// with the same scores, for queries with stemmed variants, accents, repeated and unknown words, on a
/// store that grows, loses references and filters by profile.
final class LexicalIndexTests: XCTestCase {
    private var directory: TemporaryDirectory!
    private var store: MemoryStore!
    private var generator = SystemRandomNumberGenerator()

    private static let vocabulary: [String] = {
        var words = ["run", "running", "runs", "runner", "café", "cafe", "naïve", "Zürich", "zurich", "1821", "x2",
                     "lighthouse", "lighthouses", "keeper", "keeping", "the", "a", "of", "and", "tower", "towers"]
        for i in 0 ..< 300 { words.append("w\(i)" + String(repeating: "q", count: i % 3)) }
        return words
    }()

    override func setUpWithError() throws {
        directory = try TemporaryDirectory(name)
        store = try MemoryStore(path: directory.path("store.sqlite"))
    }

    override func tearDown() {
        store = nil
        directory = nil
    }

    /// A word drawn with a skew: a few words in most references, most in few.
    private func word<G: RandomNumberGenerator>(_ g: inout G) -> String {
        let v = Self.vocabulary
        let u = Double.random(in: 0 ..< 1, using: &g)
        return v[min(v.count - 1, Int(pow(u, 3) * Double(v.count)))]
    }

    private func addDocument<G: RandomNumberGenerator>(_ n: Int, tag: String, memories: Bool, _ g: inout G) throws -> Int64 {
        let references = (0 ..< n).map { ordinal in
            let text = (0 ..< Int.random(in: 3 ... 40, using: &g)).map { _ in word(&g) }.joined(separator: Bool.random(using: &g) ? " " : ", ")
            return NewReference(ordinal: ordinal, text: text, tokenCount: 10,
                                memories: memories && ordinal % 3 != 0 ? [NewMemory(profile: "dense", codec: "int8", blob: [1])] : [])
        }
        return try store.insertDocument(NewDocument(title: tag, source: tag, sha256: tag, bytes: 1, references: references))
    }

    private func query<G: RandomNumberGenerator>(_ g: inout G) -> String {
        var words = (0 ..< Int.random(in: 1 ... 30, using: &g)).map { _ in word(&g) }
        if Bool.random(using: &g) { words.append("unheardof") }
        if Bool.random(using: &g), let first = words.first { words.append(first.uppercased()) }
        return words.joined(separator: " ")
    }

    private func assertSameRanking<G: RandomNumberGenerator>(queries: Int, profile: String?, _ g: inout G, file: StaticString = #filePath, line: UInt = #line) throws {
        for _ in 0 ..< queries {
            let text = query(&g), limit = Int.random(in: 1 ... 60, using: &g)
            store.indexedSearchAbove = .max
            let fts = try store.search(text, limit: limit, profile: profile)
            store.indexedSearchAbove = 0
            let indexed = try store.search(text, limit: limit, profile: profile)
            XCTAssertEqual(indexed.map(\.referenceId), fts.map(\.referenceId), "query \(text), limit \(limit)", file: file, line: line)
            XCTAssertEqual(indexed.map(\.documentId), fts.map(\.documentId), file: file, line: line)
            for (a, b) in zip(indexed, fts) {
                XCTAssertEqual(a.score, b.score, accuracy: 1e-12 * max(1, abs(b.score)), "query \(text)", file: file, line: line)
            }
        }
    }

    func testRanksAsFTS5AsTheStoreGrowsAndShrinks() throws {
        var g = SeededRandom(seed: 11)
        let first = try addDocument(200, tag: "a", memories: true, &g)
        try assertSameRanking(queries: 150, profile: nil, &g)
        try assertSameRanking(queries: 50, profile: "dense", &g)
        // Grows: the index appends the new rows.
        _ = try addDocument(150, tag: "b", memories: false, &g)
        try assertSameRanking(queries: 100, profile: nil, &g)
        // Shrinks: the index rebuilds.
        XCTAssertTrue(try store.deleteDocument(id: first))
        try assertSameRanking(queries: 100, profile: nil, &g)
        try assertSameRanking(queries: 30, profile: "dense", &g)
        XCTAssertEqual(store.lexicalIndex?.count, try store.counts().references)
    }

    /// Past its posting budget a query's commonest terms propose no candidates, but every score
    /// returned is still FTS5's own for that reference, best first.
    func testScoresStayExactWhenTheBudgetLeavesCommonTermsOut() throws {
        var g = SeededRandom(seed: 13)
        _ = try addDocument(300, tag: "d", memories: false, &g)
        store.indexedSearchAbove = 300
        XCTAssertTrue(try store.prepareSearchIndex() == false, "300 references, not above the threshold: FTS5 alone")
        store.indexedSearchAbove = 0
        XCTAssertTrue(try store.prepareSearchIndex())
        let index = try XCTUnwrap(store.lexicalIndex)
        index.postingBudget = 40
        var overlap = 0, returned = 0
        for _ in 0 ..< 100 {
            let text = query(&g)
            let indexed = try store.search(text, limit: 10)
            store.indexedSearchAbove = .max
            let all = try store.search(text, limit: 10_000)
            store.indexedSearchAbove = 0
            let exact = Dictionary(uniqueKeysWithValues: all.map { ($0.referenceId, $0.score) })
            for hit in indexed { XCTAssertEqual(hit.score, try XCTUnwrap(exact[hit.referenceId]), accuracy: 1e-12 * max(1, abs(hit.score))) }
            XCTAssertEqual(indexed.map(\.score), indexed.map(\.score).sorted(by: >))
            overlap += Set(indexed.map(\.referenceId)).intersection(all.prefix(10).map(\.referenceId)).count
            returned += indexed.count
        }
        XCTAssertGreaterThan(returned, 0)
        // 0.74 with this seed and a budget of 40 postings per query: the
        // rare terms still find most of the best.
        XCTAssertGreaterThan(Double(overlap) / Double(returned), 0.5)
    }

    func testWordsWithoutTokensAndUnknownWordsFindNothing() throws {
        var g = SeededRandom(seed: 12)
        _ = try addDocument(50, tag: "c", memories: false, &g)
        store.indexedSearchAbove = 0
        XCTAssertEqual(try store.search("unheardof neverseen", limit: 5), [])
        XCTAssertEqual(try store.search("\u{301}", limit: 5).count, try { store.indexedSearchAbove = .max; return try store.search("\u{301}", limit: 5).count }())
    }

    func testTokenizerIsFTS5s() throws {
        let tokenizer = try FTS5Tokenizer()
        XCTAssertEqual(tokenizer.tokens("Running runners, the Café in Zürich!"), ["run", "runner", "the", "cafe", "in", "zurich"])
        XCTAssertEqual(tokenizer.tokens("   "), [])
    }
}

/// A small seeded generator (tests must be repeatable).
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }
}
