#if canImport(Glibc)
import Glibc
#endif

/// Writes one response on a request thread: the head, then the body whole or in chunks.
final class ResponseWriter: ResponseBodyStream, @unchecked Sendable {
    let channel: ConnectionChannel
    let timeout: Double
    /// Frame each write as a chunk (HTTP/1.1 streams); otherwise raw bytes until close (HTTP/1.0).
    private(set) var chunked = false
    private(set) var failed = false
    private(set) var bytesWritten = 0

    init(channel: ConnectionChannel, timeout: Double) {
        self.channel = channel
        self.timeout = timeout
    }

    func writeHead(_ head: [UInt8], chunked: Bool) -> Bool {
        self.chunked = chunked
        return send(head)
    }

    @discardableResult
    func write(_ bytes: [UInt8]) -> Bool {
        guard !bytes.isEmpty else { return !failed }
        guard chunked else { return send(bytes) }
        var frame = Array(String(bytes.count, radix: 16).utf8) + [0x0D, 0x0A]
        frame.reserveCapacity(frame.count + bytes.count + 2)
        frame += bytes
        frame += [0x0D, 0x0A]
        return send(frame)
    }

    /// Ends a chunked body.
    func finish() -> Bool {
        chunked ? send(Array("0\r\n\r\n".utf8)) : !failed
    }

    var isClientGone: Bool { failed || channel.peerClosed }

    private func send(_ bytes: [UInt8]) -> Bool {
        guard !failed else { return false }
        if channel.sendAll(bytes, timeout: timeout) {
            bytesWritten += bytes.count
            return true
        }
        failed = true
        return false
    }
}
