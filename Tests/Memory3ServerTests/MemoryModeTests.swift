import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model
@testable import Memory3Server
import Tokenizer
import XCTest

/// Memory modes through the API: with a memory source the engine reads memories, and the answer
/// says which references each chunk used.
final class MemoryModeTests: XCTestCase {
    /// Two references whose memories are the tiny model's own key/values for fixed text.
    final class TinyMemorySource: MemorySource, @unchecked Sendable {
        let memories: [Int64: EncodedMemory]

        init(model: LlamaModel, tokenizer: Tokenizer) throws {
            var memories: [Int64: EncodedMemory] = [:]
            for (id, text) in [(Int64(1), "the sea is salty"), (Int64(2), "the sky is blue")] {
                let tokens = tokenizer.encode(text, parseSpecial: false)
                let cache = model.makeCache(capacity: tokens.count)
                _ = try model.forward(tokens, cache: cache, logits: .none)
                let segment = cache.segment(tokens: 0 ..< tokens.count)
                let c = model.config
                let positions = (0 ..< c.layerCount * c.kvHeadCount).flatMap { _ in (0 ..< tokens.count).map(Int32.init) }
                memories[id] = EncodedMemory(layers: segment.layers, kvHeadCount: c.kvHeadCount, headDim: c.headDim,
                                             tokenCount: tokens.count, prefixTokenCount: 1, positions: positions,
                                             keys: segment.keys, values: segment.values)
            }
            self.memories = memories
        }

        func retrieve(_ query: String, limit: Int, retriever: RetrieverKind?) throws -> [RetrievedReference] {
            Array([RetrievedReference(referenceId: 1, documentId: 10, score: 2.5),
                   RetrievedReference(referenceId: 2, documentId: 20, score: 1.0)].prefix(limit))
        }

        func memory(for referenceId: Int64) throws -> EncodedMemory {
            guard let m = memories[referenceId] else { throw MemoryEngineError.missingReference(referenceId) }
            return m
        }

        func text(for referenceId: Int64) throws -> String { referenceId == 1 ? "the sea is salty" : "the sky is blue" }
    }

    func engine() throws -> LanguageModelEngine {
        let (model, tokenizer) = TestServers.tinyModel
        var policy = MemoryReadingPolicy()
        policy.contextOffset = 32
        return LanguageModelEngine(model: model, tokenizer: tokenizer, modelID: "tiny-llama",
                                   memorySource: try TinyMemorySource(model: model, tokenizer: tokenizer), policy: policy)
    }

    func chunks(_ response: WireResponse) throws -> (mode: String?, chunks: [[String: Any]]) {
        let memory = try XCTUnwrap(try response.json()["memory"] as? [String: Any], response.text)
        return (memory["mode"] as? String, memory["chunks"] as? [[String: Any]] ?? [])
    }

    func testExplicitModeReportsTheReferencesEachChunkUsed() throws {
        let server = try TestServers.start(self, engine: try engine())
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions", body: """
            {"messages": [{"role": "user", "content": "is the sea salty"}], "max_tokens": 4, "temperature": 0,
             "memory": {"mode": "explicit", "k": 2}}
            """)
        XCTAssertEqual(r.status, 200, r.text)
        let (mode, chunks) = try chunks(r)
        XCTAssertEqual(mode, "explicit")
        let first = try XCTUnwrap(chunks.first)
        XCTAssertEqual(first["phase"] as? String, "prompt")
        let references = try XCTUnwrap(first["references"] as? [[String: Any]])
        XCTAssertEqual(references.compactMap { ($0["reference_id"] as? NSNumber)?.int64Value }, [1, 2])
        XCTAssertEqual(references.first?["score"] as? Double, 2.5)
    }

    func testTextModeAndKAreHonoured() throws {
        let server = try TestServers.start(self, engine: try engine())
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: """
            {"prompt": "the sea", "max_tokens": 2, "temperature": 0, "memory": {"mode": "text", "k": 1}}
            """)
        XCTAssertEqual(r.status, 200, r.text)
        let (mode, chunks) = try chunks(r)
        XCTAssertEqual(mode, "text")
        XCTAssertEqual((chunks.first?["references"] as? [Any])?.count, 1)
        // Off is still off.
        let off = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                             body: #"{"prompt": "the sea", "max_tokens": 2, "memory": {"mode": "off"}}"#)
        XCTAssertEqual(try self.chunks(off).mode, "off")
        XCTAssertTrue(try TestHTTPClient.request(port: server.port, "GET", "/metrics").text.contains("memory3_retrievals_total 1"))
        // A request that names no mode gets the configured default: explicit, with a store loaded.
        let unnamed = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: #"{"prompt": "the sea", "max_tokens": 2}"#)
        XCTAssertEqual(try self.chunks(unnamed).mode, "explicit")
    }
}
