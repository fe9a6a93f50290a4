import Foundation
import Synchronization

/// What the HTTP layer asks of the application: the body limit of a route before its body is
/// read, a response for a complete request, and a record of every request it finished.
public protocol HTTPHandler: Sendable {
    /// The largest body accepted for the request with this head.
    func bodyLimit(for head: HTTPRequestHead) -> Int
    /// A refusal decided from the head alone (no such route, wrong method, missing or bad API
    /// key): sent before any byte of an announced body is read, and the connection closed, so a
    /// client without a key cannot make the server read (and hold) its body. Nil: read the body.
    func refusal(for head: HTTPRequestHead) -> HTTPResponse?
    /// Runs on the request's own thread; may block (it may wait for a generation).
    func respond(to request: HTTPRequest, context: RequestContext) -> HTTPResponse
    /// Called once per request answered, including those refused by the HTTP layer itself.
    func finished(_ record: RequestRecord)
}

extension HTTPHandler {
    public func refusal(for head: HTTPRequestHead) -> HTTPResponse? { nil }
}

/// One answered request, for the log and the metrics.
public struct RequestRecord: Sendable {
    public var method: String
    public var path: String
    public var status: Int
    public var seconds: Double
    public var peer: String
    /// Why the HTTP layer refused it, when it did.
    public var error: String?
    /// The response (or stream) did not fully reach the client.
    public var clientGone = false
    /// `X-Request-Id` of the response (nil for a connection refused before any request).
    public var requestID: String? = nil
    /// What the route added for the log (tokens, memory mode, queue wait, ...), in order.
    public var fields: [(String, String)] = []
}

/// The id of one request: the client's `X-Request-Id` when it is a sane token (1-128 of
/// letters, digits, `.`, `_`, `-`), else a new `req_` and 24 hex digits. Sent back in the
/// `X-Request-Id` header and error bodies, and written in the log line.
public enum RequestID {
    public static func make(from headers: HTTPHeaders?) -> String {
        if let given = headers?["X-Request-Id"], (1 ... 128).contains(given.utf8.count),
           given.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }) {
            return given
        }
        var generator = SystemRandomNumberGenerator()
        return "req_" + (0 ..< 12).map { _ in String(format: "%02x", UInt8.random(in: 0 ... 255, using: &generator)) }.joined()
    }
}

/// What a route can ask about the request's connection while it runs.
public final class RequestContext: Sendable {
    public let peer: String
    /// Monotonic time when the request's first byte arrived.
    public let startedAt: Double
    public let requestID: String
    private let fd: Int32
    private let annotations = Mutex<[(String, String)]>([])

    init(fd: Int32, peer: String, startedAt: Double, requestID: String = RequestID.make(from: nil)) {
        self.fd = fd
        self.peer = peer
        self.startedAt = startedAt
        self.requestID = requestID
    }

    /// Adds a field to the request's log line (a later value for the same key wins).
    public func annotate(_ key: String, _ value: String) {
        annotations.withLock { fields in
            fields.removeAll { $0.0 == key }
            fields.append((key, value))
        }
    }

    /// The fields routes added, in order.
    public var fields: [(String, String)] { annotations.withLock { $0 } }

    /// Whether the client closed the connection (a non-streaming request polls this while it
    /// waits, to cancel work nobody will read).
    public var isClientGone: Bool { Socket.peerClosed(fd) }

    /// A context with no connection behind it (tests of routes).
    public static func detached() -> RequestContext { RequestContext(fd: -1, peer: "test", startedAt: MonotonicClock.now()) }

    /// Seconds since the request started.
    public var elapsed: Double { MonotonicClock.now() - startedAt }
}
