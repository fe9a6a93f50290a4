import Foundation
import Memory3Model
@testable import Memory3Server
import XCTest

/// Log-probabilities are the log-softmax of the model's own logits, in OpenAI's chat and
/// completions shapes (a stream carries them in its last chunk); what cannot be honoured is refused.
final class LogprobsTests: XCTestCase {
    func testGreedyLogprobsAreTheLogSoftmaxOfTheModelsLogits() throws {
        let server = try TestServers.start(self, engine: TestServers.tinyEngine())
        let (model, tokenizer) = TestServers.tinyModel
        let prompt = "The tide"
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                           body: #"{"prompt": "\#(prompt)", "max_tokens": 4, "temperature": 0, "logprobs": 3, "ignore_eos": true}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let choice = try XCTUnwrap((try r.json()["choices"] as? [[String: Any]])?.first)
        let logprobs = try XCTUnwrap(choice["logprobs"] as? [String: Any])
        let values = try XCTUnwrap(logprobs["token_logprobs"] as? [Double])
        let tops = try XCTUnwrap(logprobs["top_logprobs"] as? [[String: Double]])
        let tokens = try XCTUnwrap(logprobs["tokens"] as? [String])
        XCTAssertEqual(values.count, 4)
        XCTAssertEqual(tokens.joined(), choice["text"] as? String)
        XCTAssertEqual(logprobs["text_offset"] as? [Int], [0] + tokens.dropLast().reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1.count) })
        for (value, top) in zip(values, tops) {
            XCTAssertLessThanOrEqual(value, 0)
            XCTAssertLessThanOrEqual(top.count, 3)
            // Greedy: the chosen token is the likeliest one.
            XCTAssertEqual(value, top.values.max() ?? 0, accuracy: 1e-5)
        }

        // The first generated token's log-probability, from the model directly.
        let ids = tokenizer.encode(prompt, parseSpecial: true, addBOS: nil)
        let logits = try model.forward(ids, cache: model.makeCache(capacity: 64))
        let maxLogit = logits.max()!
        let logZ = maxLogit + Float(log(logits.reduce(0.0) { $0 + Double(expf($1 - maxLogit)) }))
        let argmax = logits.indices.max { logits[$0] < logits[$1] }!
        XCTAssertEqual(values[0], Double(logits[argmax] - logZ), accuracy: 1e-4)
    }

    /// `echo` with `logprobs` (how evaluation harnesses score a text): the prompt comes back with
    /// the log-probability of each of its tokens but the first, the log-softmax of the model's
    /// logits at the token before; `max_tokens: 0` scores without generating. Streamed, the
    /// prompt is the first chunk's text.
    func testEchoedPromptLogprobsAreTheLogSoftmaxOfTheModelsLogits() throws {
        let server = try TestServers.start(self, engine: TestServers.tinyEngine())
        let (model, tokenizer) = TestServers.tinyModel
        let prompt = "The tide rises"
        for maxTokens in [0, 2] {
            let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                               body: #"{"prompt": "\#(prompt)", "max_tokens": \#(maxTokens), "temperature": 0, "echo": true, "logprobs": 2, "ignore_eos": true}"#)
            XCTAssertEqual(r.status, 200, r.text)
            let choice = try XCTUnwrap((try r.json()["choices"] as? [[String: Any]])?.first)
            let text = try XCTUnwrap(choice["text"] as? String)
            XCTAssertTrue(text.hasPrefix(prompt), text)
            let logprobs = try XCTUnwrap(choice["logprobs"] as? [String: Any])
            let values = try XCTUnwrap(logprobs["token_logprobs"] as? [Any])
            let tokens = try XCTUnwrap(logprobs["tokens"] as? [String])
            XCTAssertEqual(tokens.joined(), text)
            let ids = tokenizer.encode(prompt, parseSpecial: true, addBOS: nil)
            XCTAssertEqual(values.count, ids.count + maxTokens)
            XCTAssertTrue(values[0] is NSNull, "nothing predicts the first token")
            XCTAssertTrue((logprobs["top_logprobs"] as? [Any])?.first is NSNull)
            let rows = try model.forward(ids, cache: model.makeCache(capacity: 64), logits: .all)
            let vocabulary = rows.count / ids.count
            for i in 1 ..< ids.count {
                let row = rows[(i - 1) * vocabulary ..< i * vocabulary]
                let maxLogit = row.max()!
                let logZ = maxLogit + Float(log(row.reduce(0.0) { $0 + Double(expf($1 - maxLogit)) }))
                XCTAssertEqual(try XCTUnwrap(values[i] as? Double), Double(row[row.startIndex + ids[i]] - logZ), accuracy: 1e-4, "token \(i)")
            }
        }
        let streamed = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                                  body: #"{"prompt": "\#(prompt)", "max_tokens": 2, "echo": true, "stream": true}"#)
        let first = streamed.text.components(separatedBy: "\n").first { $0.hasPrefix("data: {") }
        XCTAssertTrue(first?.contains(#""text":"\#(prompt)""#) == true, streamed.text)
        // Not on chat, and max_tokens 0 only with echo.
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 0}"#).status, 400)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions",
                                                  body: #"{"messages": [{"role": "user", "content": "x"}], "echo": true}"#).status, 400)
    }

    /// `n` choices: each its own sequence (with seed + index when a seed is given), indexed in
    /// order, the prompt counted once in the usage; greedy choices are equal.
    func testSeveralChoicesAreGeneratedAndCountedOnce() throws {
        let server = try TestServers.start(self, engine: TestServers.tinyEngine())
        func choices(_ body: String, path: String = "/v1/completions") throws -> (texts: [String], usage: [String: Int]) {
            let r = try TestHTTPClient.request(port: server.port, "POST", path, body: body)
            XCTAssertEqual(r.status, 200, r.text)
            let json = try r.json()
            let list = try XCTUnwrap(json["choices"] as? [[String: Any]])
            XCTAssertEqual(list.map { $0["index"] as? Int }, Array(0 ..< list.count).map { Optional($0) })
            let texts = list.map { ($0["text"] as? String) ?? (($0["message"] as? [String: Any])?["content"] as? String) ?? "" }
            return (texts, try XCTUnwrap(json["usage"] as? [String: Any]).compactMapValues { $0 as? Int })
        }
        let sampled = try choices(#"{"prompt": "The tide", "max_tokens": 6, "n": 3, "seed": 11, "temperature": 1, "ignore_eos": true}"#)
        XCTAssertEqual(sampled.texts.count, 3)
        XCTAssertGreaterThan(Set(sampled.texts).count, 1, "seeds differ per choice: \(sampled.texts)")
        XCTAssertEqual(sampled.usage["completion_tokens"], 18)
        let single = try choices(#"{"prompt": "The tide", "max_tokens": 6, "seed": 11, "temperature": 1, "ignore_eos": true}"#)
        XCTAssertEqual(sampled.usage["prompt_tokens"], single.usage["prompt_tokens"], "the prompt counts once")
        XCTAssertEqual(sampled.texts[0], single.texts[0], "choice 0 uses the seed itself")
        let greedy = try choices(#"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 4, "n": 2, "temperature": 0, "ignore_eos": true}"#,
                                 path: "/v1/chat/completions")
        XCTAssertEqual(greedy.texts.count, 2)
        XCTAssertEqual(greedy.texts[0], greedy.texts[1])
    }

    func testChatLogprobsCarryTokensBytesAndAlternatives() throws {
        let server = try TestServers.start(self, engine: TestServers.tinyEngine())
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions",
                                           body: #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "temperature": 0, "logprobs": true, "top_logprobs": 2, "ignore_eos": true}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let choice = try XCTUnwrap((try r.json()["choices"] as? [[String: Any]])?.first)
        let content = try XCTUnwrap((choice["logprobs"] as? [String: Any])?["content"] as? [[String: Any]])
        XCTAssertEqual(content.count, 3)
        for entry in content {
            XCTAssertNotNil(entry["token"] as? String)
            XCTAssertNotNil(entry["bytes"] as? [Int])
            let top = try XCTUnwrap(entry["top_logprobs"] as? [[String: Any]])
            XCTAssertEqual(top.count, 2)
            XCTAssertEqual(entry["token"] as? String, top.first?["token"] as? String, "greedy picks the likeliest")
        }
        // Without logprobs the field is null, as OpenAI sends it.
        let plain = try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions",
                                               body: #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1}"#)
        XCTAssertTrue(plain.text.contains(#""logprobs":null"#), plain.text)
    }

    /// Streamed, each delta carries the log-probabilities of its own tokens (as OpenAI sends
    /// them); added up, the chunks give every token once, and their tokens spell the text.
    func testAStreamCarriesEachDeltasLogprobs() throws {
        let server = try TestServers.start(self, engine: TestServers.tinyEngine())
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions",
                                           body: #"{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 5, "temperature": 0, "logprobs": true, "top_logprobs": 1, "ignore_eos": true, "stream": true}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let events = r.text.components(separatedBy: "\n").filter { $0.hasPrefix("data: {") }
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
        let choices = events.compactMap { ($0["choices"] as? [[String: Any]])?.first }
        let textChunks = choices.filter { !((($0["delta"] as? [String: Any])?["content"] as? String) ?? "").isEmpty }
        XCTAssertGreaterThan(textChunks.count, 1)
        for chunk in textChunks {
            let content = ((chunk["logprobs"] as? [String: Any])?["content"] as? [[String: Any]]) ?? []
            XCTAssertFalse(content.isEmpty, "a text delta carries its tokens' log-probabilities: \(chunk)")
        }
        let all = choices.flatMap { (($0["logprobs"] as? [String: Any])?["content"] as? [[String: Any]]) ?? [] }
        XCTAssertEqual(all.count, 5, "every token once")
        let streamed = choices.compactMap { ($0["delta"] as? [String: Any])?["content"] as? String }.joined()
        XCTAssertEqual(all.compactMap { $0["token"] as? String }.joined(), streamed)
        XCTAssertNotNil(choices.last?["finish_reason"] as? String)

        // Completions: the legacy shape per chunk, text offsets running on across chunks.
        let t = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                           body: #"{"prompt": "The tide", "max_tokens": 4, "temperature": 0, "logprobs": 1, "ignore_eos": true, "stream": true}"#)
        let textChoices = t.text.components(separatedBy: "\n").filter { $0.hasPrefix("data: {") }
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.dropFirst(6).utf8)) as? [String: Any] }
            .compactMap { ($0["choices"] as? [[String: Any]])?.first }
        let offsets = textChoices.flatMap { (($0["logprobs"] as? [String: Any])?["text_offset"] as? [Int]) ?? [] }
        let tokens = textChoices.flatMap { (($0["logprobs"] as? [String: Any])?["tokens"] as? [String]) ?? [] }
        XCTAssertEqual(tokens.count, 4)
        XCTAssertEqual(offsets, [0] + tokens.dropLast().reduce(into: [Int]()) { $0.append(($0.last ?? 0) + $1.count) })
    }

    func testWhatCannotBeHonouredIsRefused() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        for body in [#"{"prompt": "x", "logprobs": 21}"#, #"{"prompt": "x", "logprobs": -1}"#] {
            XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: body).status, 400, body)
        }
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions",
                                                  body: #"{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 21, "logprobs": true}"#).status, 400)
    }
}
