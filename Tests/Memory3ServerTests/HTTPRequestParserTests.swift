@testable import Memory3Server
import XCTest

/// The parser as a state machine: valid requests in any split, and every malformed input
/// refused with its own error (and so its own status).
final class HTTPRequestParserTests: XCTestCase {
    var limits = HTTPLimits()

    /// Feeds `text` (in pieces of `split` bytes) and returns the events up to the first error.
    func parse(_ text: String, split: Int = .max, bodyLimit: Int? = nil) -> (events: [HTTPParserEvent], error: HTTPParseError?) {
        parse(Array(text.utf8), split: split, bodyLimit: bodyLimit)
    }

    func parse(_ bytes: [UInt8], split: Int = .max, bodyLimit: Int? = nil) -> (events: [HTTPParserEvent], error: HTTPParseError?) {
        var parser = HTTPRequestParser(limits: limits)
        var events: [HTTPParserEvent] = []
        var offset = 0
        repeat {
            let end = min(bytes.count, offset + max(1, min(split, bytes.count)))
            parser.append(bytes[offset ..< end])
            offset = end
            do {
                while let event = try parser.next() {
                    if case .head = event, let bodyLimit { parser.setBodyLimit(bodyLimit) }
                    events.append(event)
                }
            } catch {
                return (events, error)
            }
        } while offset < bytes.count
        return (events, nil)
    }

    func expectError(_ text: String, _ expected: HTTPParseError, status: Int, file: StaticString = #filePath, line: UInt = #line) {
        let result = parse(text)
        XCTAssertEqual(result.error, expected, "for \(text.debugDescription)", file: file, line: line)
        XCTAssertEqual(result.error?.status.code, status, file: file, line: line)
        // The same bytes one at a time fail the same way.
        XCTAssertEqual(parse(text, split: 1).error, expected, "byte by byte: \(text.debugDescription)", file: file, line: line)
    }

    // MARK: valid requests

    func testParsesRequestLineHeadersAndBody() throws {
        let result = parse("POST /v1/completions?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nX-Thing:  padded value \t\r\n\r\nhello")
        XCTAssertNil(result.error)
        guard result.events.count == 2, case .head(let head) = result.events[0] else { return XCTFail("\(result.events)") }
        XCTAssertEqual(head.method, "POST")
        XCTAssertEqual(head.path, "/v1/completions")
        XCTAssertEqual(head.query, "x=1")
        XCTAssertEqual(head.version, .http1_1)
        XCTAssertEqual(head.headers["x-thing"], "padded value")
        XCTAssertEqual(result.events[1], .end(body: Array("hello".utf8)))
    }

    func testEverySplitOfTheInputGivesTheSameEvents() {
        let text = "POST /a HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
        let whole = parse(text)
        XCTAssertNil(whole.error)
        XCTAssertEqual(whole.events.last, .end(body: Array("hello world".utf8)))
        for split in 1 ... 9 {
            XCTAssertEqual(parse(text, split: split).events, whole.events, "split \(split)")
        }
    }

    func testPipelinedRequestsComeOutOneAfterTheOther() {
        let result = parse("GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n")
        XCTAssertNil(result.error)
        let paths = result.events.compactMap { event -> String? in if case .head(let h) = event { return h.path } else { return nil } }
        XCTAssertEqual(paths, ["/a", "/b"])
        XCTAssertEqual(result.events.count, 4)
    }

    func testEmptyLinesBeforeARequestAreIgnored() {
        XCTAssertNil(parse("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").error)
    }

    func testHTTP10NeedsNoHostAndClosesByDefault() throws {
        let result = parse("GET / HTTP/1.0\r\n\r\n")
        XCTAssertNil(result.error)
        guard case .head(let head) = result.events.first else { return XCTFail() }
        XCTAssertFalse(head.keepAlive)
        guard case .head(let kept) = parse("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").events.first else { return XCTFail() }
        XCTAssertTrue(kept.keepAlive)
        guard case .head(let closing) = parse("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").events.first else { return XCTFail() }
        XCTAssertFalse(closing.keepAlive)
    }

    func testAbsoluteFormTargetsAreReducedToPathAndQuery() {
        // RFC 9112 §3.2.2: a server must accept the absolute form.
        for (target, path, query) in [("http://a/b", "/b", nil), ("HTTPS://a:8080/v1/x?k=1", "/v1/x", "k=1"),
                                      ("http://a", "/", nil), ("http://a?q", "/", "q")] as [(String, String, String?)] {
            guard case .head(let head) = parse("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n").events.first else {
                return XCTFail(target)
            }
            XCTAssertEqual(head.path, path, target)
            XCTAssertEqual(head.query, query, target)
        }
    }

    func testTransferEncodingOnHTTP10IsRefused() {
        // RFC 9112 §6.1: HTTP/1.0 has no transfer codings; the framing is faulty.
        expectError("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", .transferEncodingInHTTP10, status: 400)
    }

    func testRepeatedIdenticalContentLengthsAreAccepted() {
        let result = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi")
        XCTAssertNil(result.error)
        XCTAssertEqual(result.events.last, .end(body: Array("hi".utf8)))
    }

    func testHeaderValuesMayHoldObsText() {
        XCTAssertNil(parse(Array("GET / HTTP/1.1\r\nHost: a\r\nX: caf".utf8) + [0xC3, 0xA9] + Array("\r\n\r\n".utf8)).error)
    }

    func testHeadersExactlyAtTheLimitAreAccepted() {
        let base = "GET / HTTP/1.1\r\nHost: a\r\nX: \r\n\r\n"
        let padding = String(repeating: "a", count: limits.maxHeaderBytes - base.utf8.count)
        let text = "GET / HTTP/1.1\r\nHost: a\r\nX: \(padding)\r\n\r\n"
        XCTAssertEqual(text.utf8.count, limits.maxHeaderBytes)
        XCTAssertNil(parse(text).error)
        XCTAssertEqual(parse("GET / HTTP/1.1\r\nHost: a\r\nX: \(padding)a\r\n\r\n").error, .headersTooLarge(limit: limits.maxHeaderBytes))
    }

    func testExpect100ContinueIsRecognized() {
        guard case .head(let head) = parse("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n").events.first else {
            return XCTFail()
        }
        XCTAssertTrue(head.expectsContinue)
    }

    // MARK: malformed request lines

    func testMalformedRequestLines() {
        expectError("GET  / HTTP/1.1\r\n\r\n", .invalidTarget, status: 400)
        expectError("G(T / HTTP/1.1\r\n\r\n", .invalidMethod, status: 400)
        expectError(" GET / HTTP/1.1\r\n\r\n", .invalidMethod, status: 400)
        expectError("GET\r\n\r\n", .invalidVersion, status: 400)
        expectError("GET /\r\n\r\n", .invalidVersion, status: 400)
        expectError("GET / HTTP/1.1 extra\r\n\r\n", .invalidTarget, status: 400)
        expectError("GET a/b HTTP/1.1\r\n\r\n", .invalidTarget, status: 400)
        expectError("GET * HTTP/1.1\r\n\r\n", .invalidTarget, status: 400)
        expectError("GET http:///b HTTP/1.1\r\n\r\n", .invalidTarget, status: 400)
        expectError("GET ftp://a/b HTTP/1.1\r\n\r\n", .invalidTarget, status: 400)
        expectError("GET /a\u{7F} HTTP/1.1\r\n\r\n", .invalidTarget, status: 400)
        expectError("GET /caf\u{E9} HTTP/1.1\r\n\r\n", .invalidTarget, status: 400)
        expectError("GET / HTTP/1\r\n\r\n", .invalidVersion, status: 400)
        expectError("GET / http/1.1\r\n\r\n", .invalidVersion, status: 400)
        expectError("GET / HTTP/1.1x\r\n\r\n", .invalidVersion, status: 400)
        expectError("GET / HTTP/2.0\r\n\r\n", .unsupportedVersion("HTTP/2.0"), status: 505)
        expectError("GET / HTTP/0.9\r\n\r\n", .unsupportedVersion("HTTP/0.9"), status: 505)
        expectError("\u{16}\u{03}\u{01}\u{02}\u{00}\r\n", .invalidMethod, status: 400)  // a TLS hello on the plain port
    }

    func testLinesMustEndWithCRLF() {
        expectError("GET / HTTP/1.1\nHost: a\r\n\r\n", .invalidLineEnding, status: 400)
        expectError("GET / HTTP/1.1\r\nHost: a\n\r\n", .invalidLineEnding, status: 400)
        expectError("GET / HTTP/1.1\r\nHost: a\r\n\n", .invalidLineEnding, status: 400)
        expectError("GET / HTTP/1.1\rHost: a\r\n\r\n", .invalidLineEnding, status: 400)
        expectError("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", .invalidLineEnding, status: 400)
    }

    // MARK: malformed headers

    func testMalformedHeaders() {
        expectError("GET / HTTP/1.1\r\n: empty\r\n\r\n", .invalidHeaderName, status: 400)
        expectError("GET / HTTP/1.1\r\nHost : a\r\n\r\n", .invalidHeaderName, status: 400)
        expectError("GET / HTTP/1.1\r\nHo@st: a\r\n\r\n", .invalidHeaderName, status: 400)
        expectError("GET / HTTP/1.1\r\nNoColon\r\n\r\n", .invalidHeaderName, status: 400)
        expectError("GET / HTTP/1.1\r\nHost: a\u{01}b\r\n\r\n", .invalidHeaderValue(name: "Host"), status: 400)
        expectError("GET / HTTP/1.1\r\nX: a\u{7F}\r\nHost: a\r\n\r\n", .invalidHeaderValue(name: "X"), status: 400)
        expectError("GET / HTTP/1.1\r\nX: \u{00}\r\nHost: a\r\n\r\n", .invalidHeaderValue(name: "X"), status: 400)
        expectError("GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", .obsoleteLineFolding, status: 400)
        expectError("GET / HTTP/1.1\r\nHost: a\r\n\tfolded\r\n\r\n", .obsoleteLineFolding, status: 400)
        expectError("GET / HTTP/1.1\r\nX: a\r\n\r\n", .missingHost, status: 400)
        expectError("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", .duplicateHost, status: 400)
        expectError("GET / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", .unsupportedExpectation("200-ok"), status: 417)
    }

    // MARK: framing

    func testInvalidContentLengths() {
        for value in ["abc", "-1", "+5", "1.0", "1,2", "", "12345678901234567890", "0x10", " "] {
            expectError("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \(value)\r\n\r\n", .invalidContentLength, status: 400)
        }
        expectError("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", .invalidContentLength, status: 400)
    }

    func testContentLengthWithTransferEncodingIsRefused() {
        expectError("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", .conflictingFraming, status: 400)
    }

    func testTransferCodingsOtherThanChunkedAreNotImplemented() {
        for value in ["gzip", "gzip, chunked", "chunked, gzip", "chunked, chunked", "identity"] {
            expectError("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \(value)\r\n\r\n", .unsupportedTransferEncoding(value), status: 501)
        }
    }

    func testMalformedChunks() {
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        expectError(head + "zz\r\n", .invalidChunkSize, status: 400)
        expectError(head + "\r\n", .invalidChunkSize, status: 400)
        expectError(head + "-5\r\n", .invalidChunkSize, status: 400)
        expectError(head + "5 x\r\n", .invalidChunkSize, status: 400)
        expectError(head + "1000000000000000\r\n", .invalidChunkSize, status: 400)
        expectError(head + "3\r\nabcXY", .invalidChunkTerminator, status: 400)
        expectError(head + "3\r\nabc\rX", .invalidChunkTerminator, status: 400)
        expectError(head + "0\r\nnot a trailer\r\n\r\n", .invalidTrailer, status: 400)
        expectError(head + "5;" + String(repeating: "e", count: limits.maxChunkLineBytes) + "\r\n", .chunkLineTooLong(limit: limits.maxChunkLineBytes), status: 400)
    }

    // MARK: limits

    func testOversizedHeadersAreRefusedBeforeTheyEnd() {
        let start = "GET / HTTP/1.1\r\nHost: a\r\nX: " + String(repeating: "a", count: limits.maxHeaderBytes)
        // No blank line yet: the parser does not wait for it.
        XCTAssertEqual(parse(start).error, .headersTooLarge(limit: limits.maxHeaderBytes))
        XCTAssertEqual(parse(start).error?.status.code, 431)
    }

    func testOverlongRequestLineIsURITooLong() {
        let line = "GET /" + String(repeating: "a", count: limits.maxHeaderBytes)
        XCTAssertEqual(parse(line).error, .targetTooLong(limit: limits.maxHeaderBytes))
        XCTAssertEqual(parse(line).error?.status.code, 414)
    }

    func testTooManyHeaderLines() {
        let headers = (0 ... limits.maxHeaderCount).map { "X-\($0): v\r\n" }.joined()
        expectError("GET / HTTP/1.1\r\nHost: a\r\n" + headers + "\r\n", .tooManyHeaders(limit: limits.maxHeaderCount), status: 431)
    }

    func testAnnouncedBodyOverTheLimitIsRefusedBeforeItArrives() {
        let result = parse("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10485760\r\n\r\n", bodyLimit: 1 << 20)
        XCTAssertEqual(result.events.count, 1)  // the head
        XCTAssertEqual(result.error, .bodyTooLarge(limit: 1 << 20))
        XCTAssertEqual(result.error?.status.code, 413)
    }

    func testChunkedBodyOverTheLimitIsRefusedAtTheChunkThatCrossesIt() {
        let head = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        let result = parse(head + "8\r\n12345678\r\n8\r\n", bodyLimit: 10)
        XCTAssertEqual(result.error, .bodyTooLarge(limit: 10))
        XCTAssertNil(parse(head + "8\r\n12345678\r\n2\r\nab\r\n0\r\n\r\n", bodyLimit: 10).error)
    }

    func testTheRouteLimitAppliesPerRequest() {
        // A large limit for the first request does not carry over to the next.
        var parser = HTTPRequestParser(limits: limits)
        parser.append(Array("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2000000\r\n\r\n".utf8))
        XCTAssertNoThrow(try parser.next())
        parser.setBodyLimit(5)
        XCTAssertEqual(try parser.next(), .end(body: Array("abc".utf8)))
        XCTAssertNoThrow(try parser.next())
        XCTAssertThrowsError(try parser.next()) { XCTAssertEqual($0 as? HTTPParseError, .bodyTooLarge(limit: limits.maxCompletionBodyBytes)) }
    }

    func testAFailedParserStaysFailed() {
        var parser = HTTPRequestParser(limits: limits)
        parser.append(Array("BAD\r\n".utf8))
        XCTAssertThrowsError(try parser.next())
        parser.append(Array("GET / HTTP/1.1\r\nHost: a\r\n\r\n".utf8))
        XCTAssertThrowsError(try parser.next())
    }
}
