#if canImport(Glibc)
import Glibc
#endif

/// The byte stream of one connection: the socket itself, or TLS over it. The event loop reads
/// through it without blocking; a request thread writes through it with a deadline.
final class ConnectionChannel: @unchecked Sendable {
    let fd: Int32
    private var tls: TLSSession?
    /// Why the channel stopped working, when it was not simply closed (for the request log).
    private(set) var failure: String?
    /// A TLS port received something that is not a TLS handshake and starts like an HTTP request.
    private(set) var sawPlainHTTP = false
    private var firstByteChecked = false

    init(fd: Int32, tls: TLSSession? = nil) {
        self.fd = fd
        self.tls = tls
    }

    /// Events to poll for: readable or hung up, and writable while a TLS step waits for it.
    var pollEvents: Int16 {
        Int16(POLLIN) | Socket.pollReadHangUp | (tls?.wantsWrite == true ? Int16(POLLOUT) : 0)
    }

    /// Input already taken off the socket that poll(2) will not report.
    var hasBufferedInput: Bool { tls?.hasBufferedInput ?? false }

    /// Reads what is available; with TLS, runs the handshake first.
    func read(into buffer: UnsafeMutableRawBufferPointer) -> Socket.ReadResult {
        guard let tls, !tls.closing, !sawPlainHTTP else { return Socket.read(fd, into: buffer) }
        if !tls.handshakeDone {
            if !firstByteChecked {
                // Every TLS connection opens with a handshake record (type 22); a capital letter
                // is an HTTP method from a client that forgot the https:// scheme.
                switch Socket.peekByte(fd) {
                case .wouldBlock: return .wouldBlock
                case .closed: return .closed
                case .byte(let first):
                    firstByteChecked = true
                    if first != 22 {
                        sawPlainHTTP = (0x41 ... 0x5A).contains(first)
                        failure = sawPlainHTTP ? "plain HTTP sent to the HTTPS port" : "not a TLS handshake"
                        return .closed
                    }
                }
            }
            switch tls.handshake() {
            case .done: break
            case .wouldBlock: return .wouldBlock
            case .failed(let reason):
                failure = reason
                return .closed
            }
        }
        return tls.read(into: buffer)
    }

    /// One non-blocking attempt to send a small message from the event loop; true if all went.
    func sendNow(_ bytes: [UInt8]) -> Bool {
        guard let tls, !sawPlainHTTP else { return Socket.sendNow(fd, bytes) }
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                guard let n = tls.write(UnsafeRawBufferPointer(rebasing: buffer[offset...])), n > 0 else { return false }
                offset += n
            }
            return true
        }
    }

    /// Sends all of `bytes`, waiting up to `timeout` seconds in total for the client to take them.
    func sendAll(_ bytes: [UInt8], timeout: Double) -> Bool {
        guard let tls, !sawPlainHTTP else { return Socket.sendAll(fd, bytes, timeout: timeout) }
        let deadline = MonotonicClock.now() + timeout
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                guard let n = tls.write(UnsafeRawBufferPointer(rebasing: buffer[offset...])) else { return false }
                if n > 0 {
                    offset += n
                    continue
                }
                let remaining = deadline - MonotonicClock.now()
                guard remaining > 0 else { return false }
                var p = pollfd(fd: fd, events: tls.wantsWrite ? Int16(POLLOUT) : Int16(POLLIN), revents: 0)
                let ready = poll(&p, 1, Int32(min(remaining, 1) * 1000) + 1)
                if ready < 0 && errno != EINTR { return false }
                if ready > 0 && p.revents & Int16(POLLERR | POLLHUP | POLLNVAL) != 0 { return false }
            }
            return true
        }
    }

    /// Ends what the server sends (TLS close_notify, then a TCP half-close); reads still work.
    func shutdownWrite() {
        tls?.sendCloseNotify()
        Glibc.shutdown(fd, Int32(SHUT_WR))
    }

    /// Whether the peer has closed or reset the connection.
    var peerClosed: Bool { Socket.peerClosed(fd) }

    func close() {
        tls = nil
        Glibc.close(fd)
    }
}
