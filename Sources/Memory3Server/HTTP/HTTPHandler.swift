import Foundation

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
}

/// What a route can ask about the request's connection while it runs.
public final class RequestContext: Sendable {
    public let peer: String
    /// Monotonic time when the request's first byte arrived.
    public let startedAt: Double
    private let fd: Int32

    init(fd: Int32, peer: String, startedAt: Double) {
        self.fd = fd
        self.peer = peer
        self.startedAt = startedAt
    }

    /// Whether the client closed the connection (a non-streaming request polls this while it
    /// waits, to cancel work nobody will read).
    public var isClientGone: Bool { Socket.peerClosed(fd) }

    /// A context with no connection behind it (tests of routes).
    public static func detached() -> RequestContext { RequestContext(fd: -1, peer: "test", startedAt: MonotonicClock.now()) }

    /// Seconds since the request started.
    public var elapsed: Double { MonotonicClock.now() - startedAt }
}
