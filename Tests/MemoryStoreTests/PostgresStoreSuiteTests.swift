import Foundation
import XCTest
@testable import MemoryStore

/// The store's suites (documents, ingestions, search, embeddings) run again on PostgreSQL: this
/// test binary, run as a child with `MEMORY3_TEST_STORE=postgres` and a filter for those suites.
final class PostgresStoreSuiteTests: XCTestCase {
    static let suites = ["DocumentTests", "IngestionStoreTests", "SearchTests", "EmbeddingStoreTests", "PostgresConnectionTests"]

    func testTheStoreSuitesPassOnPostgreSQL() throws {
        // Started here, so that a missing PostgreSQL fails (or skips) with its own message; the
        // child reuses nothing of it (it starts its own server).
        _ = try TemporaryPostgres.server()
        try StoreSuiteChild.run(Self.suites, setting: [StoreBackendTestCase.backendVariable: "postgres"], label: "on PostgreSQL")
    }
}
