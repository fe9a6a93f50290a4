import Foundation

/// A response a route hands back: a status, headers and either the whole body or a producer
/// that streams it (chunked, or Server-Sent Events) on the request's thread.
public struct HTTPResponse: Sendable {
    public enum Body: Sendable {
        case bytes([UInt8])
        /// Called once the head is written; writes the body through the stream.
        case stream(@Sendable (ResponseBodyStream) -> Void)
    }

    public var status: HTTPStatus
    public var headers: HTTPHeaders
    public var body: Body

    public init(status: HTTPStatus, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = .bytes(body)
    }

    public init(status: HTTPStatus, headers: HTTPHeaders = HTTPHeaders(), stream: @escaping @Sendable (ResponseBodyStream) -> Void) {
        self.status = status
        self.headers = headers
        self.body = .stream(stream)
    }

    /// A JSON response from an `Encodable` value.
    public static func json(_ value: some Encodable, status: HTTPStatus = .ok, headers: HTTPHeaders = HTTPHeaders()) -> HTTPResponse {
        var headers = headers
        headers.set("Content-Type", "application/json")
        let data = (try? JSONCoding.encoder.encode(value)) ?? Data("{}".utf8)
        return HTTPResponse(status: status, headers: headers, body: Array(data))
    }

    public static func text(_ text: String, status: HTTPStatus = .ok, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", contentType)]), body: Array(text.utf8))
    }

    /// The status line and headers, ending with the blank line.
    static func serializeHead(status: HTTPStatus, version: HTTPVersion, headers: HTTPHeaders) -> [UInt8] {
        var text = "\(version) \(status.code) \(status.reason)\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8)
    }
}

/// The shared JSON coders (sorted keys make responses and tests stable).
public enum JSONCoding {
    public static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }()
}

/// Where a streamed body goes. Writes block the request's thread until the client has taken
/// the bytes (bounded by the write timeout); after a failed write every later one fails too.
public protocol ResponseBodyStream: AnyObject, Sendable {
    /// Writes one piece of the body (one chunk with chunked encoding). False if the client is gone.
    @discardableResult func write(_ bytes: [UInt8]) -> Bool
    /// Whether the client has closed its side of the connection (a cancelled request).
    var isClientGone: Bool { get }
}
