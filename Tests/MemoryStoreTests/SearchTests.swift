import Foundation
import XCTest
@testable import MemoryStore

/// Full-text retrieval: BM25 ranking, and user text that must never act as FTS5 syntax.
class SearchTests: StoreBackendTestCase {
    private var directory: TemporaryDirectory!
    private var store: MemoryStore!
    private var referenceIds: [String: Int64] = [:]

    private let texts = [
        "lighthouse": "The lighthouse keeper on Farrow Island paints the tower red every spring.",
        "volcano": "Mount Kelda is a dormant volcano; its last eruption was in 1821.",
        "bakery": "The bakery on Elm Street sells rye bread and poppy seed rolls.",
        "quotes": "He said \"NEAR\" and \"AND\" are keywords: text:(a OR b) * ^start NOT end.",
        "accents": "Crème brûlée is a dessert served in Zürich cafés.",
    ]

    override func setUpWithError() throws {
        directory = try TemporaryDirectory(name)
        store = try openStore(directory, "store.sqlite")
        let keys = texts.keys.sorted()
        let document = NewDocument(
            title: "facts", source: "facts.md", sha256: "facts", bytes: 100,
            references: keys.enumerated().map { ordinal, key in
                NewReference(ordinal: ordinal, text: texts[key]!, tokenCount: 20,
                             memories: [NewMemory(profile: "dense", codec: "int8", blob: [UInt8(ordinal)])])
            }
        )
        let id = try store.insertDocument(document)
        for reference in try XCTUnwrap(try store.document(id: id)).references {
            referenceIds[keys[reference.ordinal]] = reference.id
        }
    }

    override func tearDown() {
        store = nil
        directory = nil
    }

    func testMatchingReferenceRanksFirst() throws {
        let cases = [
            "Who paints the lighthouse tower?": "lighthouse",
            "when did the volcano last erupt": "volcano",
            "Where can I buy rye bread?": "bakery",
            "creme brulee": "accents", // diacritics folded
            "ZURICH": "accents", // case folded
            "painting lighthouses": "lighthouse", // stemmed
        ]
        for (question, expected) in cases {
            let hits = try store.search(question, limit: 3)
            XCTAssertEqual(hits.first?.referenceId, referenceIds[expected], question)
            XCTAssertEqual(hits.map(\.score), hits.map(\.score).sorted(by: >), "best first: \(question)")
            XCTAssertTrue(hits.allSatisfy { $0.score > 0 }, "higher is better: \(hits)")
        }
    }

    func testLimitAndDocumentIdAreHonoured() throws {
        let hits = try store.search("the", limit: 2)
        XCTAssertEqual(hits.count, 2)
        let documentId = try XCTUnwrap(try store.documents().first?.id)
        XCTAssertTrue(hits.allSatisfy { $0.documentId == documentId })
        XCTAssertEqual(try store.search("the", limit: 0), [])
        XCTAssertEqual(try store.search("the", limit: -5), [])
    }

    func testTextWithoutWordsFindsNothing() throws {
        for text in ["", "   ", "\"\"", "*", "()", "^", ":-)", "--", "\u{0}", "🧠🔥"] {
            XCTAssertEqual(try store.search(text, limit: 10), [], "for \(text.debugDescription)")
        }
    }

    func testHostileTextIsSearchedAsPlainWords() throws {
        let hostile = [
            "\"", "\"\"\"", "lighthouse\"", "\"lighthouse", "NEAR(lighthouse volcano)", "NEAR/2",
            "lighthouse AND", "AND", "OR", "NOT", "NOT lighthouse", "lighthouse NOT volcano",
            "text:lighthouse", "text : volcano", "{text}: bakery", "-text:bakery", "rowid:1",
            "reference_fts:lighthouse", "light*", "*", "^lighthouse", "(((", ")))", "lighthouse)",
            "a\"b\"c", "'; DROP TABLE documents; --", "\u{0}lighthouse", "+", "-volcano", "%_",
            String(repeating: "(", count: 1000), String(repeating: "lighthouse ", count: 500),
        ]
        for text in hostile {
            XCTAssertNoThrow(try store.search(text, limit: 5), "for \(text.debugDescription)")
        }
        // Operators are words like any other: they match the reference that contains them.
        XCTAssertEqual(try store.search("NEAR", limit: 1).first?.referenceId, referenceIds["quotes"])
        XCTAssertEqual(try store.search("NOT", limit: 1).first?.referenceId, referenceIds["quotes"])
        XCTAssertEqual(try store.search("text:", limit: 1).first?.referenceId, referenceIds["quotes"])
        // NOT does not exclude, AND does not require: both references come back.
        let either = Set(try store.search("lighthouse NOT volcano", limit: 10).map(\.referenceId))
        XCTAssertTrue(either.isSuperset(of: [referenceIds["lighthouse"]!, referenceIds["volcano"]!]))
        // A prefix star is not a wildcard.
        XCTAssertEqual(try store.search("light*", limit: 5).map(\.referenceId).contains(referenceIds["lighthouse"]!), false)
        XCTAssertEqual(try store.documents().count, 1)
    }

    func testProfileFilterReturnsOnlyReferencesWithThatMemory() throws {
        XCTAssertEqual(try store.search("lighthouse", limit: 5, profile: "dense").first?.referenceId, referenceIds["lighthouse"])
        XCTAssertEqual(try store.search("lighthouse", limit: 5, profile: "paper"), [])
    }

    func testQueryIsBuiltFromQuotedWordsOnly() {
        XCTAssertEqual(SearchQuery.matchExpression(for: "NEAR(a b) text:c \"d\" e* ^f"),
                       "\"near\" OR \"a\" OR \"b\" OR \"text\" OR \"c\" OR \"d\" OR \"e\" OR \"f\"")
        XCTAssertEqual(SearchQuery.words(in: "Zürich zürich ZÜRICH don't"), ["zürich", "don", "t"])
        XCTAssertNil(SearchQuery.matchExpression(for: " ()*^\"\" "))
        XCTAssertEqual(SearchQuery.quoted("a\"b"), "\"a\"\"b\"")
        let many = (0..<500).map { "w\($0)" }.joined(separator: " ")
        XCTAssertEqual(SearchQuery.words(in: many).count, SearchQuery.maximumWords)
    }
}

/// Query pruning on large stores: common words dropped, the rarest kept within the budgets, counts
/// cached until the store grows by a tenth.
final class SearchQueryPruningTests: XCTestCase {
    func testKeepsTheRarestWordsWithinTheBudgets() throws {
        let frequencies = ["the": 90_000, "of": 50_000, "lighthouse": 40, "varnholt": 3, "keeper": 900, "fog": 1_500, "zzz": 0]
        var asked: [String: Int] = [:]
        let cache = DocumentFrequencyCache()
        let kept = try SearchQuery.pruned(["the", "varnholt", "of", "keeper", "lighthouse", "fog", "zzz"], references: 100_000, cache: cache) { words, cap in
            words.map { word in
                asked[word] = cap
                return min(frequencies[word]!, cap)
            }
        }
        // "the" and "of" are over 2% of the store, "zzz" is in none; "fog" would pass the 2,000-reference budget.
        XCTAssertEqual(kept, ["varnholt", "lighthouse", "keeper"])
        XCTAssertEqual(asked["the"], 2_001, "counting stops past the common share")
        // Cached: not counted again until the store has grown by a tenth.
        _ = try SearchQuery.pruned(["the"], references: 105_000, cache: cache) { words, _ in XCTFail("counted again"); return words.map { _ in 0 } }
        var recounted = false
        _ = try SearchQuery.pruned(["the"], references: 120_000, cache: cache) { words, _ in recounted = true; return words.map { _ in 0 } }
        XCTAssertTrue(recounted)
        // A query of common words only keeps nothing; one word alone over the budget is still kept.
        XCTAssertEqual(try SearchQuery.pruned(["the", "of"], references: 100_000, cache: DocumentFrequencyCache()) { words, cap in words.map { min(frequencies[$0]!, cap) } }, [])
        XCTAssertEqual(try SearchQuery.pruned(["fog"], references: 100_000, cache: DocumentFrequencyCache()) { words, _ in words.map { _ in 1_999 } }, ["fog"])
    }
}

