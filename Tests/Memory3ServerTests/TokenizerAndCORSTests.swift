import Foundation
@testable import Memory3Server
import XCTest

/// /tokenize and /detokenize in llama.cpp's shapes, CORS for browsers when configured, and fields
/// that are either honoured (`ignore_eos`) or refused (`top_logprobs`), never silently ignored.
final class TokenizerAndCORSTests: XCTestCase {
    func testTokenizeAndDetokenizeUseTheModelsTokenizer() throws {
        let server = try TestServers.start(self, engine: TestServers.tinyEngine())
        let tokenizer = TestServers.tinyModel.1
        let text = "Tides rise <|im_start|> twice"
        let r = try TestHTTPClient.request(port: server.port, "POST", "/tokenize", body: #"{"content": "\#(text)"}"#)
        XCTAssertEqual(r.status, 200, r.text)
        let ids = try XCTUnwrap(try r.json()["tokens"] as? [Int])
        XCTAssertEqual(ids, tokenizer.encode(text, parseSpecial: true, addBOS: false))

        let plain = try TestHTTPClient.request(port: server.port, "POST", "/tokenize",
                                               body: #"{"content": "\#(text)", "parse_special": false, "with_pieces": true}"#).json()
        let pieces = try XCTUnwrap(plain["tokens"] as? [[String: Any]])
        XCTAssertEqual(pieces.compactMap { $0["id"] as? Int }, tokenizer.encode(text, parseSpecial: false, addBOS: false))
        XCTAssertEqual(pieces.compactMap { $0["piece"] as? String }.joined(), text)

        let back = try TestHTTPClient.request(port: server.port, "POST", "/detokenize", body: #"{"tokens": \#(ids)}"#)
        XCTAssertEqual(try back.json()["content"] as? String, tokenizer.decode(ids))
        let bad = try TestHTTPClient.request(port: server.port, "POST", "/detokenize", body: #"{"tokens": [1, -4]}"#)
        XCTAssertEqual(bad.status, 400)
        XCTAssertEqual((try bad.json()["error"] as? [String: Any])?["param"] as? String, "tokens")
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/tokenize", body: #"{"text": "x"}"#).status, 400)
    }

    func testTokenizeAnswers503WhileTheModelLoads() throws {
        let server = try TestServers.start(self, engine: nil)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/tokenize", body: #"{"content": "x"}"#).status, 503)
    }

    func testCORSIsOffByDefaultAndAnswersAllowedOrigins() throws {
        let closed = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        let noCORS = try TestHTTPClient.request(port: closed.port, "GET", "/v1/models", headers: [("Origin", "https://app.example.com")])
        XCTAssertNil(noCORS.header("Access-Control-Allow-Origin"))
        let noPreflight = try TestHTTPClient.request(port: closed.port, "OPTIONS", "/v1/completions",
                                                     headers: [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST")])
        XCTAssertEqual(noPreflight.status, 405)

        let open = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0)) {
            $0.corsOrigins = ["https://app.example.com"]
            $0.apiKeys = ["sekret"]
        }
        let preflight = try TestHTTPClient.request(port: open.port, "OPTIONS", "/v1/chat/completions",
                                                   headers: [("Origin", "https://app.example.com"), ("Access-Control-Request-Method", "POST"),
                                                             ("Access-Control-Request-Headers", "authorization, content-type")])
        XCTAssertEqual(preflight.status, 204, "a preflight carries no key and must still pass")
        XCTAssertEqual(preflight.header("Access-Control-Allow-Origin"), "https://app.example.com")
        XCTAssertEqual(preflight.header("Access-Control-Allow-Methods"), "POST")
        XCTAssertTrue(preflight.header("Access-Control-Allow-Headers")?.contains("Authorization") == true)

        let unauthorized = try TestHTTPClient.request(port: open.port, "GET", "/v1/models", headers: [("Origin", "https://app.example.com")])
        XCTAssertEqual(unauthorized.status, 401)
        XCTAssertEqual(unauthorized.header("Access-Control-Allow-Origin"), "https://app.example.com", "the page can read the error")
        let ok = try TestHTTPClient.request(port: open.port, "GET", "/v1/models",
                                            headers: [("Origin", "https://app.example.com"), ("Authorization", "Bearer sekret")])
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.header("Access-Control-Allow-Origin"), "https://app.example.com")
        XCTAssertTrue(ok.header("Access-Control-Expose-Headers")?.contains("X-Request-Id") == true)
        let other = try TestHTTPClient.request(port: open.port, "GET", "/v1/models",
                                               headers: [("Origin", "https://evil.example"), ("Authorization", "Bearer sekret")])
        XCTAssertNil(other.header("Access-Control-Allow-Origin"))

        XCTAssertTrue(CORSPolicy.isValidOrigin("http://localhost:5173"))
        XCTAssertTrue(CORSPolicy.isValidOrigin("*"))
        XCTAssertFalse(CORSPolicy.isValidOrigin("https://app.example.com/path"))
        XCTAssertFalse(CORSPolicy.isValidOrigin("app.example.com"))
        XCTAssertThrowsError(try ServerConfiguration.load(json: Array(#"{"server": {"cors_origins": ["ftp://x"]}}"#.utf8), file: "t"))
    }

    func testIgnoreEOSReachesTheGenerationAndTopLogprobsIsRefused() throws {
        let probe = GenerationProbe()
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0, probe: probe))
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                                  body: #"{"prompt": "x", "max_tokens": 2, "ignore_eos": true}"#).status, 200)
        XCTAssertEqual(probe.lastJob.withLock { $0?.options.stopAtEndOfGeneration }, false)
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "POST", "/v1/completions",
                                                  body: #"{"prompt": "x", "max_tokens": 2}"#).status, 200)
        XCTAssertEqual(probe.lastJob.withLock { $0?.options.stopAtEndOfGeneration }, true)
        let top = try TestHTTPClient.request(port: server.port, "POST", "/v1/chat/completions",
                                             body: #"{"messages": [{"role": "user", "content": "x"}], "top_logprobs": 3}"#)
        XCTAssertEqual(top.status, 400)
        XCTAssertEqual((try top.json()["error"] as? [String: Any])?["param"] as? String, "top_logprobs")
    }
}
