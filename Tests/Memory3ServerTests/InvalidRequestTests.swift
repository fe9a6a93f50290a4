import Foundation
@testable import Memory3Server
import XCTest

/// Two hundred invalid requests — broken JSON, wrong types, bad values, invalid UTF-8, unknown
/// models, malformed HTTP — each answered with a 4xx and a message; the server keeps serving.
final class InvalidRequestTests: XCTestCase {
    static let invalidBodies: [String] = [
        "{", "}", "[]", "[1, 2]", "null", "42", "\"text\"", "{\"prompt\": }", "{\"prompt\": \"x\" \"y\"}", "{\"prompt\": 'x'}", "{\"prompt\": \"x\"}}", "{\"prompt\": \"\u{1}\"}", "{\"prompt\": \"x\"} trailing",
        "{'prompt': 'x'}", "{\"prompt\": \"x\"", "{\"prompt\": \"\\u12\"}", "{\"prompt\": NaN}", "{\"a\":" + String(repeating: "[", count: 600),
        #"{"prompt": 5}"#, #"{"prompt": true}"#, #"{"prompt": {"a": 1}}"#, #"{"prompt": ""}"#, #"{"prompt": []}"#,
        #"{"prompt": ["a", "b"]}"#, #"{"prompt": [1, -2]}"#, #"{"prompt": [999999]}"#, #"{"prompt": [1.5]}"#, #"{}"#,
        #"{"prompt": "x", "max_tokens": -1}"#, #"{"prompt": "x", "max_tokens": 0}"#, #"{"prompt": "x", "max_tokens": 1000000000}"#,
        #"{"prompt": "x", "max_tokens": 99999999999999999999}"#, #"{"prompt": "x", "max_tokens": "10"}"#, #"{"prompt": "x", "max_tokens": 2.5}"#,
        #"{"prompt": "x", "max_tokens": 256}"#,
        #"{"prompt": "x", "temperature": "hot"}"#, #"{"prompt": "x", "temperature": -0.1}"#, #"{"prompt": "x", "temperature": 5}"#,
        #"{"prompt": "x", "top_p": 0}"#, #"{"prompt": "x", "top_p": 1.5}"#, #"{"prompt": "x", "top_p": "all"}"#,
        #"{"prompt": "x", "top_k": -3}"#, #"{"prompt": "x", "min_p": 2}"#, #"{"prompt": "x", "frequency_penalty": 3}"#,
        #"{"prompt": "x", "presence_penalty": -9}"#, #"{"prompt": "x", "repeat_penalty": 0}"#, #"{"prompt": "x", "seed": "abc"}"#,
        #"{"prompt": "x", "seed": 1.5}"#, #"{"prompt": "x", "stream": "yes"}"#, #"{"prompt": "x", "stream": 1}"#,
        #"{"prompt": "x", "stream_options": true}"#, #"{"prompt": "x", "stream_options": {"include_usage": "y"}}"#,
        #"{"prompt": "x", "stop": 7}"#, #"{"prompt": "x", "stop": [1]}"#, #"{"prompt": "x", "stop": [""]}"#,
        #"{"prompt": "x", "stop": ["a","b","c","d","e","f","g","h","i","j","k","l","m","n","o","p","q"]}"#,
        #"{"prompt": "x", "n": 9}"#, #"{"prompt": "x", "n": 2, "stream": true}"#, #"{"prompt": "x", "n": "1"}"#, #"{"prompt": "x", "best_of": 3}"#, #"{"prompt": "x", "echo": "yes"}"#,
        #"{"prompt": "x", "suffix": "end"}"#, #"{"prompt": "x", "logit_bias": {"1": 5}}"#,
        #"{"prompt": "x", "user": 12}"#, #"{"prompt": "x", "model": "gpt-4"}"#, #"{"prompt": "x", "model": ""}"#, #"{"prompt": "x", "model": 3}"#,
        #"{"prompt": "x", "memory": "explicit"}"#, #"{"prompt": "x", "memory": {"mode": 3}}"#, #"{"prompt": "x", "memory": {"mode": "fast"}}"#,
        #"{"prompt": "x", "memory": {"mode": "off", "k": 0}}"#, #"{"prompt": "x", "memory": {"mode": "off", "k": 1000}}"#,
        #"{"prompt": "x", "memory": {"mode": "explicit"}}"#, #"{"prompt": "x", "response_format": {"type": "json_schema"}}"#,
        #"{"prompt": "x", "memory": {"mode": "text", "k": 3}}"#, #"{"prompt": "x", "memory": {"mode": "off", "k": "5"}}"#,
        #"{"prompt": "x", "memory": []}"#, #"{"prompt": "x", "memory": {"mode": "off", "retriever": "vector"}}"#,
        #"{"prompt": "x", "memory": {"mode": "off", "retriever": "dense"}}"#, #"{"prompt": "x", "memory": {"mode": "off", "retriever": 2}}"#, #"{"prompt": "x", "temperature": null, "top_p": -1}"#, #"{"prompt": "x", "top_k": 1.25}"#,
        #"{"prompt": "x", "seed": 1e300}"#, #"{"prompt": "x", "max_tokens": true}"#, #"{"prompt": "x", "max_tokens": [16]}"#,
        #"{"prompt": "x", "stop": {"a": 1}}"#, #"{"prompt": "x", "n": 0}"#, #"{"prompt": "x", "n": -1}"#,
        #"{"prompt": "x", "response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "integer", "minimum": 0}}}}"#,
    ]

    static let invalidChatBodies: [String] = [
        #"{"messages": "hi"}"#, #"{"messages": []}"#, #"{"messages": [1]}"#, #"{"messages": [{"role": 5, "content": "x"}]}"#,
        #"{"messages": [{"role": "wizard", "content": "x"}]}"#, #"{"messages": [{"content": "x"}]}"#, #"{"messages": [{"role": "user"}]}"#,
        #"{"messages": [{"role": "user", "content": 5}]}"#, #"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function"}]}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "a b"}}]}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string", "pattern": "a"}}}]}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "sometimes"}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f"}}], "response_format": {"type": "json_object"}}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "s"}}}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "string", "format": "email"}}}}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": {"type": "tuple"}}}}"#,
        #"{"messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]}"#,
        #"{"prompt": "no messages"}"#,
        #"{"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": -5}"#,
    ]

    func testTwoHundredInvalidRequestsEachGetA4xxAndTheServerKeepsServing() throws {
        let server = try TestServers.start(self, engine: TestServers.scriptedEngine(interval: 0))
        let client = try TestHTTPClient(port: server.port)
        var count = 0
        func expect4xx(_ r: WireResponse, _ what: String) throws {
            count += 1
            XCTAssertTrue((400 ..< 500).contains(r.status), "\(what) -> \(r.status) \(r.text)")
            let message = (try? r.json()["error"] as? [String: Any])?["message"] as? String
            XCTAssertFalse((message ?? "").isEmpty, "\(what) -> no error message: \(r.text)")
        }
        // API-level errors keep the connection open: all on one connection.
        for body in Self.invalidBodies {
            try expect4xx(try client.request("POST", "/v1/completions", body: body), body)
            let chat = body.replacingOccurrences(of: #""prompt": "x""#, with: #""messages": [{"role": "user", "content": "x"}]"#)
            try expect4xx(try client.request("POST", "/v1/chat/completions", body: chat), chat)
        }
        for body in Self.invalidChatBodies {
            try expect4xx(try client.request("POST", "/v1/chat/completions", body: body), body)
        }
        // A prompt longer than the context (256 tokens).
        let long = String(repeating: "x ", count: 400)
        try expect4xx(try client.request("POST", "/v1/completions", body: #"{"prompt": "\#(long)"}"#), "long prompt")
        // Invalid UTF-8 in the body.
        for bad in [[0xFF, 0xFE], [0xC3, 0x28], [0xE2, 0x82], [0xED, 0xA0, 0x80]] as [[UInt8]] {
            let body = Array(#"{"prompt": ""#.utf8) + bad + Array(#""}"#.utf8)
            client.send(Array("POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            try expect4xx(try client.readResponse(), "invalid UTF-8 \(bad)")
        }
        // Unknown routes and methods.
        for path in ["/index.html", "/v1", "/v1/completion", "/v1/chat", "/v2/completions", "/v1/models/x/y", "/health/", "/%00"] {
            try expect4xx(try client.request("GET", path), path)
        }
        for method in ["PUT", "PATCH", "DELETE", "OPTIONS"] {
            try expect4xx(try client.request(method, "/v1/completions"), method)
        }
        XCTAssertEqual(try client.request("GET", "/health").status, 200)

        // Malformed HTTP closes its connection: one connection each.
        let malformed = [
            "GET /health HTTP/1.1 x\r\nHost: a\r\n\r\n", "GET health HTTP/1.1\r\nHost: a\r\n\r\n", "GET /health HTTP/9.9\r\nHost: a\r\n\r\n",
            "GET /health HTTP/1.1\nHost: a\n\n", "GET /health HTTP/1.1\r\nHost a\r\n\r\n", "GET /health HTTP/1.1\r\n\r\n",
            "POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: x\r\n\r\n",
            "POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST /v1/completions HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
            "GET /health HTTP/1.1\r\nHost: a\r\nX: \u{01}\r\n\r\n",
        ]
        for text in malformed {
            let c = try TestHTTPClient(port: server.port)
            c.send(text)
            let r = try c.readResponse()
            count += 1
            XCTAssertTrue((400 ..< 600).contains(r.status) && r.status != 500, "\(text.debugDescription) -> \(r.status)")
            XCTAssertEqual(r.header("Connection"), "close")
        }
        XCTAssertGreaterThanOrEqual(count, 200)

        // Still serving.
        XCTAssertEqual(try TestHTTPClient.request(port: server.port, "GET", "/health").status, 200)
        let ok = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: #"{"prompt": "x", "max_tokens": 2}"#)
        XCTAssertEqual(ok.status, 200, ok.text)
    }
}
