import Foundation
import Memory3Memory
@testable import Memory3Server
import MemoryStore
import XCTest

/// Stores, servers and pipelines for the upload and durable-ingestion tests.
extension XCTestCase {
    func makeUploadStore() throws -> MemoryStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-upload-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: directory) }
        return try MemoryStore(path: directory.appendingPathComponent("kb.sqlite").path)
    }

    /// A server with the tiny model's real encoder over a fresh store.
    func tinyServer(_ adjust: (inout ServerConfiguration) -> Void = { _ in }) throws -> (Memory3Server, MemoryStore) {
        let store = try makeUploadStore()
        let (model, tokenizer) = TestServers.tinyModel
        let server = try TestServers.start(self, engine: TestServers.tinyEngine(), adjust)
        server.setKnowledgeBase(store)
        let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: .dense)
        server.setIngestion(IngestionPipeline(store: store, encoder: encoder, fingerprint: ModelFingerprint.of(model.file)))
        return (server, store)
    }

    /// The tiny model's encoder made slow (`delay` s per reference), references of at most 8
    /// tokens so that a short text makes many.
    func slowPipeline(_ store: MemoryStore, delay: Double) throws -> IngestionPipeline {
        let (model, tokenizer) = TestServers.tinyModel
        let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: .dense)
        var options = IngestOptions()
        options.maxReferenceTokens = 8
        options.commitBatchReferences = 2
        let real = ModelReferenceEncoding(encoder: encoder, fingerprint: ModelFingerprint.of(model.file))
        return IngestionPipeline(store: store, encoding: IngestionFixtures.SlowEncoding(delay: delay, real: real), tokenizer: tokenizer, options: options)
    }



    /// Polls the status URL until the ingestion is finished.
    func waitForIngestion(_ port: Int, _ statusURL: String, timeout: Double = 20) throws -> [String: Any] {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let status = try TestHTTPClient.request(port: port, "GET", statusURL).json()
            if let s = status["status"] as? String, !["queued", "encoding"].contains(s) { return status }
            usleep(20_000)
        }
        struct Unfinished: Error, CustomStringConvertible { let description: String }
        throw Unfinished(description: "ingestion \(statusURL) did not finish in \(timeout) s")
    }

}

enum IngestionFixtures {
    /// About 60 short sentences: many references at 8 tokens each.
    static let longText = (0 ..< 60).map { "Sentence \($0) is about lighthouse number \($0)." }.joined(separator: " ")

    /// Encodes like `real`, `delay` seconds slower per reference.
    struct SlowEncoding: ReferenceEncoding {
        let delay: Double
        let real: ModelReferenceEncoding

        func memories(for text: String) throws -> (memories: [NewMemory], modelTokens: Int) {
            usleep(UInt32(delay * 1e6))
            return try real.memories(for: text)
        }
    }

}
