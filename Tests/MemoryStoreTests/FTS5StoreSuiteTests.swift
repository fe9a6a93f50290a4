import Foundation
import XCTest
@testable import MemoryStore

/// The SQLite store suites again with every search through FTS5: since 2026-12-05 SQLite stores of
/// any size search through `LexicalIndex`, and FTS5 answers only while the index builds or for
/// queries it cannot take, so the suites alone would no longer check FTS5's filtering of staged,
/// deleted and other-profile references. This test binary, run as a child with
/// `MEMORY3_TEST_SEARCH=fts5` and a filter for those suites (as `PostgresStoreSuiteTests` does).
final class FTS5StoreSuiteTests: XCTestCase {
    static let suites = ["DocumentTests", "IngestionStoreTests", "SearchTests", "EmbeddingStoreTests"]

    func testTheStoreSuitesPassWithFTS5Search() throws {
        try StoreSuiteChild.run(Self.suites, setting: [StoreBackendTestCase.searchVariable: "fts5", StoreBackendTestCase.backendVariable: nil],
                                label: "with FTS5 search")
    }
}
