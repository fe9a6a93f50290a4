import Foundation
import Memory3Engine
import Memory3Model
@testable import Memory3Server
import XCTest

/// /v1/embeddings: the model's own hidden states, mean-pooled and unit length; deterministic,
/// the same alone or in a batch, as floats or base64, from text or token ids.
final class EmbeddingTests: XCTestCase {
    func vectors(_ port: Int, _ body: String) throws -> [[Double]] {
        let r = try TestHTTPClient.request(port: port, "POST", "/v1/embeddings", body: body)
        XCTAssertEqual(r.status, 200, r.text)
        let data = try XCTUnwrap(try r.json()["data"] as? [[String: Any]])
        return data.compactMap { $0["embedding"] as? [Double] }
    }

    func testEmbeddingsAreDeterministicUnitLengthAndBatchIndependent() throws {
        let server = try TestServers.start(self, engine: TestServers.tinyEngine())
        let (model, tokenizer) = TestServers.tinyModel
        let one = try vectors(server.port, #"{"input": "The tide rises twice a day."}"#)
        XCTAssertEqual(one.count, 1)
        XCTAssertEqual(one[0].count, model.config.embeddingLength)
        XCTAssertEqual(one[0].reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-4)
        XCTAssertEqual(try vectors(server.port, #"{"input": "The tide rises twice a day."}"#), one, "the same text, the same vector")
        let batch = try vectors(server.port, #"{"input": ["Gulls circle the pier.", "The tide rises twice a day."]}"#)
        XCTAssertEqual(batch.count, 2)
        for (a, b) in zip(batch[1], one[0]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertNotEqual(batch[0], batch[1])

        let ids = tokenizer.encode("The tide rises twice a day.", parseSpecial: false, addBOS: nil)
        let fromIds = try vectors(server.port, #"{"input": \#(ids)}"#)
        for (a, b) in zip(fromIds[0], one[0]) { XCTAssertEqual(a, b, accuracy: 1e-6) }

        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/embeddings",
                                           body: #"{"input": "The tide rises twice a day.", "encoding_format": "base64"}"#)
        let text = try XCTUnwrap((try r.json()["data"] as? [[String: Any]])?.first?["embedding"] as? String)
        let bytes = [UInt8](try XCTUnwrap(Data(base64Encoded: text)))
        let decoded = stride(from: 0, to: bytes.count, by: 4).map {
            Double(Float(bitPattern: UInt32(bytes[$0]) | UInt32(bytes[$0 + 1]) << 8 | UInt32(bytes[$0 + 2]) << 16 | UInt32(bytes[$0 + 3]) << 24))
        }
        XCTAssertEqual(decoded, one[0].map { Double(Float($0)) })
        XCTAssertEqual((try r.json()["usage"] as? [String: Any])?["prompt_tokens"] as? Int, ids.count)
    }

    func testBadInputsAreRefused() throws {
        let server = try TestServers.start(self, engine: TestServers.tinyEngine())
        for body in [#"{}"#, #"{"input": ""}"#, #"{"input": []}"#, #"{"input": [1, "a"]}"#, #"{"input": [-1]}"#,
                     #"{"input": "x", "encoding_format": "hex"}"#, #"{"input": "x", "dimensions": 3}"#,
                     #"{"input": [\#((0 ..< 65).map { _ in "\"a\"" }.joined(separator: ","))]}"#] {
            XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/embeddings", body: body).status, 400, body)
        }
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/embeddings", body: #"{"input": "x", "model": "other"}"#).status, 404)
        let scripted = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        XCTAssertEqual(try TestHTTPClient.request(port: scripted.port, "POST", "/v1/embeddings", body: #"{"input": "x"}"#).status, 501)
    }

    func testHiddenStatesInAMixedBatchEqualThoseOfAPassAlone() throws {
        let (model, _) = TestServers.tinyModel
        let a = [1, 5, 9, 13], b = [2, 6, 10]
        let alone = try model.forward(a, cache: model.makeCache(capacity: 16), logits: .hidden)
        let logitsAlone = try model.forward(b, cache: model.makeCache(capacity: 16), logits: .last)
        let mixed = try model.forward(batch: [ForwardRequest(cache: model.makeCache(capacity: 16), tokens: a, logits: .hidden),
                                              ForwardRequest(cache: model.makeCache(capacity: 16), tokens: b, logits: .last)])
        XCTAssertEqual(alone.count, a.count * model.config.embeddingLength)
        for (x, y) in zip(mixed[0], alone) { XCTAssertEqual(x, y, accuracy: 1e-4) }
        for (x, y) in zip(mixed[1], logitsAlone) { XCTAssertEqual(x, y, accuracy: 1e-3) }
    }
}
