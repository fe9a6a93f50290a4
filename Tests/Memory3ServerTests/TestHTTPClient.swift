import COpenSSL
import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// A response as the test client read it off the wire.
struct WireResponse {
    var status: Int
    var headers: [(String, String)]
    /// The body, with chunked transfer coding removed.
    var body: [UInt8]
    var text: String { String(decoding: body, as: UTF8.self) }

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    func json() throws -> [String: Any] {
        try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any], text)
    }

    /// `data:` payloads of a Server-Sent Events body.
    var events: [String] {
        text.components(separatedBy: "\n\n").compactMap { block in
            let lines = block.split(separator: "\n").filter { $0.hasPrefix("data: ") }
            return lines.isEmpty ? nil : lines.map { String($0.dropFirst(6)) }.joined(separator: "\n")
        }
    }
}

enum TestClientError: Error { case connect(Int32), timeout(String), closed(String), malformed(String), tls(String) }

/// A blocking raw-socket HTTP client on 127.0.0.1, so tests can send exactly the bytes they mean
/// (malformed requests, slow headers, pipelining) and see exactly what the server sends back.
final class TestHTTPClient: @unchecked Sendable {
    let fd: Int32
    private var buffer: [UInt8] = []
    /// With `trusting:` the client speaks TLS and checks the server's certificate for `localhost`.
    private var tls: TestTLSClient?

    convenience init(port: Int, receiveTimeout: Double = 10, trusting certificate: String) throws {
        try self.init(port: port, receiveTimeout: receiveTimeout)
        tls = try TestTLSClient(fd: fd, trusting: certificate)
    }

    init(port: Int, receiveTimeout: Double = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestClientError.connect(code)
        }
        setReceiveTimeout(receiveTimeout)
        var one: Int32 = 1
        setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
    }

    deinit {
        tls = nil
        Glibc.close(fd)
    }

    /// Closes the connection with a reset (SO_LINGER 0), as a client that gave up would.
    func reset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    func setReceiveTimeout(_ seconds: Double) {
        var tv = timeval(tv_sec: Int(seconds), tv_usec: Int((seconds - Double(Int(seconds))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sends everything; false if the server closed the connection.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        if let tls { return tls.send(bytes) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    /// Reads more bytes into the buffer; false at EOF.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        if let tls {
            let n = try tls.receive(into: &chunk)
            buffer += chunk[0 ..< n]
            return n > 0
        }
        let n = recv(fd, &chunk, chunk.count, 0)
        if n > 0 {
            buffer += chunk[0 ..< n]
            return true
        }
        if n == 0 { return false }
        if errno == EAGAIN || errno == EWOULDBLOCK { throw TestClientError.timeout("no response in time") }
        return false  // reset
    }

    /// Reads one response (headers, then a Content-Length, chunked, or until-close body).
    func readResponse(forHead: Bool = false) throws -> WireResponse {
        var headEnd: Int?
        while headEnd == nil {
            if let r = find([13, 10, 13, 10]) { headEnd = r } else if try !fill() { throw TestClientError.closed("closed before a response head (\(buffer.count) bytes)") }
        }
        let head = String(decoding: buffer[0 ..< headEnd!], as: UTF8.self)
        buffer.removeFirst(headEnd! + 4)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else { throw TestClientError.malformed(head) }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var response = WireResponse(status: status, headers: headers, body: [])
        if status == 100 { return response }
        if forHead || status == 204 || status == 304 { return response }
        if let length = response.header("Content-Length").flatMap({ Int($0) }) {
            while buffer.count < length { if try !fill() { throw TestClientError.closed("body cut short") } }
            response.body = Array(buffer[0 ..< length])
            buffer.removeFirst(length)
        } else if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
            while true {
                var lineEnd = find([13, 10])
                while lineEnd == nil { if try !fill() { throw TestClientError.closed("chunked body cut short") }; lineEnd = find([13, 10]) }
                let sizeText = String(decoding: buffer[0 ..< lineEnd!], as: UTF8.self)
                guard let size = Int(sizeText.split(separator: ";")[0], radix: 16) else { throw TestClientError.malformed("chunk size '\(sizeText)'") }
                buffer.removeFirst(lineEnd! + 2)
                while buffer.count < size + 2 { if try !fill() { throw TestClientError.closed("chunk cut short") } }
                response.body += buffer[0 ..< size]
                buffer.removeFirst(size + 2)
                if size == 0 { break }
            }
        } else {
            while try fill() {}
            response.body = buffer
            buffer.removeAll()
        }
        return response
    }

    /// Reads until the server closes; returns what came (nil if it did not close in time).
    func readUntilClosed() -> [UInt8]? {
        do {
            while try fill() {}
            defer { buffer.removeAll() }
            return buffer
        } catch {
            return nil
        }
    }

    /// Reads whatever arrives until `marker` is in the buffer (for streams read piece by piece).
    func readUntil(_ marker: String) throws -> String {
        let bytes = Array(marker.utf8)
        while find(bytes) == nil { if try !fill() { throw TestClientError.closed("closed before '\(marker)'") } }
        return String(decoding: buffer, as: UTF8.self)
    }

    private func find(_ pattern: [UInt8]) -> Int? {
        guard buffer.count >= pattern.count else { return nil }
        for i in 0 ... buffer.count - pattern.count where buffer[i] == pattern[0] {
            if buffer[i ..< i + pattern.count].elementsEqual(pattern) { return i }
        }
        return nil
    }

    func close() {
        Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }
}

/// The client half of TLS over the test client's blocking socket.
final class TestTLSClient {
    private let context: OpaquePointer
    private let ssl: OpaquePointer

    init(fd: Int32, trusting certificate: String) throws {
        guard let context = SSL_CTX_new(TLS_client_method()) else { throw TestClientError.tls("SSL_CTX_new") }
        self.context = context
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        guard SSL_CTX_load_verify_locations(context, certificate, nil) == 1 else {
            SSL_CTX_free(context)
            throw TestClientError.tls("cannot load \(certificate)")
        }
        ssl = SSL_new(context)
        SSL_set_fd(ssl, fd)
        _ = m3_ssl_set_tlsext_host_name(ssl, "localhost")
        SSL_set1_host(ssl, "localhost")
        ERR_clear_error()
        guard SSL_connect(ssl) == 1 else {
            let code = ERR_get_error()
            var text = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &text, text.count)
            SSL_free(ssl)
            SSL_CTX_free(context)
            throw TestClientError.tls("handshake: \(String(cString: text))")
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    var protocolVersion: String { String(cString: SSL_get_version(ssl)) }

    func send(_ bytes: [UInt8]) -> Bool {
        var written = 0
        return bytes.withUnsafeBytes { SSL_write_ex(ssl, $0.baseAddress, $0.count, &written) == 1 && written == bytes.count }
    }

    /// Bytes read (0 at close); throws on the socket's receive timeout.
    func receive(into chunk: inout [UInt8]) throws -> Int {
        var count = 0
        ERR_clear_error()
        if SSL_read_ex(ssl, &chunk, chunk.count, &count) == 1 { return count }
        if SSL_get_error(ssl, 0) == SSL_ERROR_WANT_READ { throw TestClientError.timeout("no response in time") }
        return 0
    }
}

/// One-shot requests.
extension TestHTTPClient {
    static func request(port: Int, _ method: String, _ path: String, body: String? = nil,
                        headers: [(String, String)] = []) throws -> WireResponse {
        let client = try TestHTTPClient(port: port)
        client.send(Self.format(method, path, body: body, headers: headers + [("Connection", "close")]))
        return try client.readResponse(forHead: method == "HEAD")
    }

    static func format(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) -> String {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body {
            if !headers.contains(where: { $0.0.lowercased() == "content-type" }) { text += "Content-Type: application/json\r\n" }
            text += "Content-Length: \(body.utf8.count)\r\n"
        }
        text += "\r\n" + (body ?? "")
        return text
    }

    func request(_ method: String, _ path: String, body: String? = nil, headers: [(String, String)] = []) throws -> WireResponse {
        send(Self.format(method, path, body: body, headers: headers))
        return try readResponse(forHead: method == "HEAD")
    }
}
