import Foundation
import GGUF
import Memory3Model
@testable import Memory3Server
import Tokenizer
import XCTest

/// End to end on SmolLM2-135M-Instruct (skipped when the model is missing: run `make model`).
final class RealModelServerTests: XCTestCase {
    nonisolated(unsafe) static var engine: LanguageModelEngine?

    func realEngine() throws -> LanguageModelEngine {
        if let engine = Self.engine { return engine }
        let path = ServerConfigurationTests.repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else {
            throw XCTSkip("models/SmolLM2-135M-Instruct.Q4_1.gguf is missing: run `make model`")
        }
        let file = try GGUFFile(path: path)
        let engine = LanguageModelEngine(model: try LlamaModel(file: file), tokenizer: try Tokenizer(gguf: file), modelID: "smollm2")
        Self.engine = engine
        return engine
    }

    func testCompletionOnTheRealModelSaysParis() throws {
        let server = try TestServers.start(self, engine: try realEngine())
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                           body: #"{"model": "smollm2", "prompt": "The capital of France is", "max_tokens": 4, "temperature": 0}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let text = try XCTUnwrap((try r.json()["choices"] as? [[String: Any]])?.first?["text"] as? String)
        XCTAssertTrue(text.hasPrefix(" Paris"), text)
    }

    func testStreamedChatOnTheRealModelMatchesTheWholeAnswer() throws {
        let server = try TestServers.start(self, engine: try realEngine())
        let body = #"{"messages": [{"role": "user", "content": "What is 2 + 2?"}], "max_tokens": 24, "temperature": 0"#
        let whole = try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions", body: body + "}").json()
        let answer = try XCTUnwrap(((whole["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String)
        XCTAssertFalse(answer.isEmpty)

        let client = try TestHTTPClient(port: server.port)
        let start = Date()
        client.send(TestHTTPClient.format("POST", "/v1/chat/completions", body: body + #", "stream": true, "stream_options": {"include_usage": true}}"#))
        _ = try client.readUntil(#""content":""#)  // the role event
        let stream = try client.readResponse()
        print(String(format: "real model: streamed %d bytes in %.2f s", stream.body.count, Date().timeIntervalSince(start)))
        XCTAssertEqual(stream.events.last, "[DONE]")
        let chunks = stream.events.dropLast().compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let text = chunks.compactMap { (($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String }.joined()
        XCTAssertEqual(text, answer)
        XCTAssertEqual(usageCounts(chunks.last?["usage"])?["completion_tokens"], usageCounts(whole["usage"])?["completion_tokens"])
    }
}

/// `response_format: json_object` on the real model: the answer is always one JSON object.
extension RealModelServerTests {
    func testJSONObjectResponsesAlwaysParse() throws {
        let server = try TestServers.start(self, engine: try realEngine())
        let prompts = ["Give the name and age of a fictional sailor as JSON.", "List three colours in a JSON object.",
                       "Describe a lighthouse as JSON with keys height and colour."]
        for (i, prompt) in prompts.enumerated() {
            for temperature in [0.0, 0.8] {
                let body = try JSONSerialization.data(withJSONObject: [
                    "messages": [["role": "user", "content": prompt]], "max_tokens": 160, "temperature": temperature, "seed": i,
                    "response_format": ["type": "json_object"],
                ] as [String: Any])
                let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions", body: String(decoding: body, as: UTF8.self))
                XCTAssertEqual(r.status, 200, r.text)
                let choice = try XCTUnwrap((try r.json()["choices"] as? [[String: Any]])?.first)
                let content = try XCTUnwrap((choice["message"] as? [String: Any])?["content"] as? String)
                XCTAssertEqual(choice["finish_reason"] as? String, "stop", "the object closed within max_tokens: \(content)")
                let parsed = try JSONSerialization.jsonObject(with: Data(content.utf8))
                XCTAssertTrue(parsed is [String: Any], content)
                print("json_object (t=\(temperature)): \(content.replacingOccurrences(of: "\n", with: " "))")
            }
        }
    }
}
