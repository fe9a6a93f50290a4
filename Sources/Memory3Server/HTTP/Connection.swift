/// One client connection. The event loop owns it while it waits for or reads a request; a
/// request thread owns it from dispatch until it hands it back, so it is never touched by two
/// threads at once.
final class Connection: @unchecked Sendable {
    enum Phase: Equatable {
        /// No byte of the next request yet. The first request is held to the header timeout
        /// from accept; later ones to the idle timeout.
        case awaitingRequest(since: Double, first: Bool)
        case readingHead(since: Double)
        case readingBody(since: Double)
        /// A request thread has it.
        case dispatched
        /// An error response was sent; the rest of the request is read and dropped until the
        /// client closes or the deadline passes.
        case lingering(until: Double)
    }

    let channel: ConnectionChannel
    var fd: Int32 { channel.fd }
    let id: UInt64
    let peer: String
    var parser: HTTPRequestParser
    var phase: Phase
    var head: HTTPRequestHead?
    /// When the current request's first byte arrived.
    var requestStart: Double = 0
    var requestStartDate = Date()
    /// Requests served on this connection.
    var requestCount = 0
    /// Bytes read and dropped while lingering.
    var discarded = 0

    init(channel: ConnectionChannel, id: UInt64, peer: String, limits: HTTPLimits, now: Double) {
        self.channel = channel
        self.id = id
        self.peer = peer
        self.parser = HTTPRequestParser(limits: limits)
        self.phase = .awaitingRequest(since: now, first: true)
    }

    var isLingering: Bool {
        if case .lingering = phase { return true }
        return false
    }

    /// The deadline of the current phase, and the status to send when it passes (nil: just close).
    func deadline(limits: HTTPLimits) -> (at: Double, status: HTTPStatus?)? {
        switch phase {
        case .awaitingRequest(let since, let first):
            first ? (since + limits.headerTimeout, nil) : (since + limits.idleTimeout, nil)
        case .readingHead(let since): (since + limits.headerTimeout, .requestTimeout)
        case .readingBody(let since): (since + limits.bodyTimeout, .requestTimeout)
        case .dispatched: nil
        case .lingering(let until): (until, nil)
        }
    }
}

import Foundation
