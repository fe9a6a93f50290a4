/// What the parser has read so far.
public enum HTTPParserEvent: Equatable, Sendable {
    /// The request line and headers are complete and valid. Before asking for the body, the
    /// owner may set the route's body limit (and answer `Expect: 100-continue`).
    case head(HTTPRequestHead)
    /// The body is complete; the parser is ready for the next request on the connection.
    case end(body: [UInt8])
}

/// An incremental HTTP/1.1 request parser: a strict state machine fed with bytes as they
/// arrive. It never reads past the end of the current request, so pipelined requests stay in
/// its buffer; every malformed input is a typed `HTTPParseError`, raised as soon as the bytes
/// prove it (a too-long header section is refused before its end arrives, a too-large body
/// before its first byte when Content-Length announces it).
public struct HTTPRequestParser: Sendable {
    enum State: Equatable, Sendable {
        case requestLine
        case headerLines
        /// Head delivered; waiting for the owner to ask for the body.
        case headDelivered
        case fixedBody(remaining: Int)
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailerLines
        /// An error was raised; the connection must be closed.
        case failed(HTTPParseError)
    }

    public let limits: HTTPLimits
    private(set) var state: State = .requestLine
    private var buffer: [UInt8] = []
    private var position = 0
    /// Where the search for the next LF resumes (bytes before it have none).
    private var scanPosition = 0
    /// Bytes of the current head (request line, headers) or trailer section consumed so far.
    private var sectionBytes = 0
    private var headerCount = 0
    private var method = ""
    private var target = ""
    private var version = HTTPVersion.http1_1
    private var headers = HTTPHeaders()
    private var chunked = false
    private var contentLength = 0
    private var bodyLimit: Int
    private var body: [UInt8] = []

    public init(limits: HTTPLimits = HTTPLimits()) {
        self.limits = limits
        self.bodyLimit = limits.maxCompletionBodyBytes
    }

    /// Adds bytes read from the connection.
    public mutating func append(_ bytes: some Sequence<UInt8>) {
        buffer.append(contentsOf: bytes)
    }

    /// The body limit for the request whose head was just delivered (the route's limit).
    public mutating func setBodyLimit(_ limit: Int) {
        bodyLimit = limit
    }

    /// True when no byte of a next request has arrived (between requests on a keep-alive
    /// connection, or before the first).
    public var isBetweenRequests: Bool {
        state == .requestLine && position == buffer.count && sectionBytes == 0
    }

    /// True once the head was delivered and the body is still being read.
    public var isReadingBody: Bool {
        switch state {
        case .headDelivered, .fixedBody, .chunkSizeLine, .chunkData, .chunkDataEnd, .trailerLines: true
        default: false
        }
    }

    /// Parses as far as the buffered bytes allow. Returns nil when more bytes are needed.
    public mutating func next() throws(HTTPParseError) -> HTTPParserEvent? {
        do {
            let event = try step()
            compact()
            return event
        } catch {
            state = .failed(error)
            throw error
        }
    }

    private mutating func step() throws(HTTPParseError) -> HTTPParserEvent? {
        while true {
            switch state {
            case .failed(let error):
                throw error
            case .requestLine:
                guard let line = try readLine(limitError: .targetTooLong(limit: limits.maxHeaderBytes)) else { return nil }
                if line.isEmpty { continue }  // RFC 9112 §2.2: empty lines before a request are ignored
                try parseRequestLine(line)
                state = .headerLines
            case .headerLines:
                guard let line = try readLine(limitError: .headersTooLarge(limit: limits.maxHeaderBytes)) else { return nil }
                if line.isEmpty {
                    let head = try finishHead()
                    state = .headDelivered
                    return .head(head)
                }
                headerCount += 1
                guard headerCount <= limits.maxHeaderCount else { throw .tooManyHeaders(limit: limits.maxHeaderCount) }
                let (name, value) = try Self.parseHeaderLine(line)
                headers.add(name, value)
            case .headDelivered:
                if chunked {
                    state = .chunkSizeLine
                    sectionBytes = 0
                } else {
                    guard contentLength <= bodyLimit else { throw .bodyTooLarge(limit: bodyLimit) }
                    if contentLength == 0 { return finishRequest() }
                    body.reserveCapacity(contentLength)
                    state = .fixedBody(remaining: contentLength)
                }
            case .fixedBody(let remaining):
                let n = min(remaining, buffer.count - position)
                guard n > 0 else { return nil }
                body.append(contentsOf: buffer[position ..< position + n])
                position += n
                scanPosition = position
                if n == remaining { return finishRequest() }
                state = .fixedBody(remaining: remaining - n)
            case .chunkSizeLine:
                sectionBytes = 0
                guard let line = try readLine(limitError: .chunkLineTooLong(limit: limits.maxChunkLineBytes),
                                              limit: limits.maxChunkLineBytes) else { return nil }
                let size = try Self.parseChunkSize(line)
                guard size <= bodyLimit - body.count else { throw .bodyTooLarge(limit: bodyLimit) }
                sectionBytes = 0
                state = size == 0 ? .trailerLines : .chunkData(remaining: size)
            case .chunkData(let remaining):
                let n = min(remaining, buffer.count - position)
                guard n > 0 else { return nil }
                body.append(contentsOf: buffer[position ..< position + n])
                position += n
                scanPosition = position
                state = n == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - n)
            case .chunkDataEnd:
                guard buffer.count - position >= 2 else {
                    if position < buffer.count, buffer[position] != 0x0D { throw .invalidChunkTerminator }
                    return nil
                }
                guard buffer[position] == 0x0D, buffer[position + 1] == 0x0A else { throw .invalidChunkTerminator }
                position += 2
                scanPosition = position
                state = .chunkSizeLine
            case .trailerLines:
                guard let line = try readLine(limitError: .headersTooLarge(limit: limits.maxHeaderBytes)) else { return nil }
                if line.isEmpty { return finishRequest() }
                guard (try? Self.parseHeaderLine(line)) != nil else { throw .invalidTrailer }
            }
        }
    }

    /// The next line without its CRLF, or nil if it has not fully arrived. Counts the line
    /// towards the current section's byte limit, and refuses a section over the limit as soon
    /// as the buffered bytes exceed it.
    private mutating func readLine(limitError: HTTPParseError, limit: Int? = nil) throws(HTTPParseError) -> ArraySlice<UInt8>? {
        let limit = limit ?? limits.maxHeaderBytes
        var i = scanPosition
        while i < buffer.count, buffer[i] != 0x0A {
            // A CR anywhere but right before the LF is a bare CR.
            if buffer[i] == 0x0D, i + 1 < buffer.count, buffer[i + 1] != 0x0A { throw .invalidLineEnding }
            i += 1
        }
        guard i < buffer.count else {
            // Resume at a trailing CR so that what follows it is checked.
            scanPosition = buffer.last == 0x0D ? max(position, i - 1) : i
            if sectionBytes + (buffer.count - position) > limit { throw limitError }
            return nil
        }
        // buffer[i] is LF: it must follow a CR that belongs to this line.
        guard i > position, buffer[i - 1] == 0x0D else { throw .invalidLineEnding }
        sectionBytes += i + 1 - position
        guard sectionBytes <= limit else { throw limitError }
        let line = buffer[position ..< i - 1]
        position = i + 1
        scanPosition = position
        return line
    }

    private mutating func parseRequestLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) {
        let parts = line.split(separator: 0x20, omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            // Tell a bad method from a bad target from a bad version as well as we can.
            if let first = parts.first, first.isEmpty || !first.allSatisfy(HTTPGrammar.isTokenByte) { throw .invalidMethod }
            if parts.count > 3 { throw .invalidTarget }
            throw .invalidVersion
        }
        let (m, t, v) = (parts[0], parts[1], parts[2])
        guard !m.isEmpty, m.allSatisfy(HTTPGrammar.isTokenByte) else { throw .invalidMethod }
        guard t.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidTarget }
        version = try Self.parseVersion(v)
        method = String(decoding: m, as: UTF8.self)
        target = try Self.originForm(t)
    }

    /// The target in origin form (`/path?query`). The absolute form (`http://host/path?query`),
    /// which RFC 9112 §3.2.2 says a server must accept, is reduced to its path and query (the
    /// Host header still names the host); `*` and the authority form are refused.
    static func originForm(_ t: ArraySlice<UInt8>) throws(HTTPParseError) -> String {
        if t.first == UInt8(ascii: "/") { return String(decoding: t, as: UTF8.self) }
        let text = String(decoding: t, as: UTF8.self)
        let lower = text.lowercased()
        guard let scheme = ["http://", "https://"].first(where: { lower.hasPrefix($0) }) else { throw .invalidTarget }
        let rest = text.dropFirst(scheme.count)
        guard let slash = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) else {
            guard !rest.isEmpty else { throw .invalidTarget }
            return "/"
        }
        guard slash > rest.startIndex else { throw .invalidTarget }  // no authority
        let pathAndQuery = String(rest[slash...])
        return pathAndQuery.hasPrefix("?") ? "/" + pathAndQuery : pathAndQuery
    }

    static func parseVersion(_ v: ArraySlice<UInt8>) throws(HTTPParseError) -> HTTPVersion {
        let bytes = Array(v)
        guard bytes.count == 8, bytes.starts(with: Array("HTTP/".utf8)),
              HTTPGrammar.isDigit(bytes[5]), bytes[6] == UInt8(ascii: "."), HTTPGrammar.isDigit(bytes[7]) else {
            throw .invalidVersion
        }
        let version = HTTPVersion(major: Int(bytes[5] - 0x30), minor: Int(bytes[7] - 0x30))
        guard version == .http1_1 || version == .http1_0 else {
            throw .unsupportedVersion(String(decoding: bytes, as: UTF8.self))
        }
        return version
    }

    static func parseHeaderLine(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> (String, String) {
        guard let first = line.first else { throw .invalidHeaderName }
        if first == 0x20 || first == 0x09 { throw .obsoleteLineFolding }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { throw .invalidHeaderName }
        let nameBytes = line[line.startIndex ..< colon]
        guard !nameBytes.isEmpty, nameBytes.allSatisfy(HTTPGrammar.isTokenByte) else { throw .invalidHeaderName }
        let name = String(decoding: nameBytes, as: UTF8.self)
        var valueBytes = line[(colon + 1)...]
        while let b = valueBytes.first, b == 0x20 || b == 0x09 { valueBytes = valueBytes.dropFirst() }
        while let b = valueBytes.last, b == 0x20 || b == 0x09 { valueBytes = valueBytes.dropLast() }
        guard valueBytes.allSatisfy(HTTPGrammar.isFieldValueByte) else { throw .invalidHeaderValue(name: name) }
        return (name, String(decoding: valueBytes, as: UTF8.self))
    }

    /// The size of a chunk-size line (hex digits, then optional extensions after `;`).
    static func parseChunkSize(_ line: ArraySlice<UInt8>) throws(HTTPParseError) -> Int {
        var size = 0
        var digits = 0
        var i = line.startIndex
        while i < line.endIndex, let d = HTTPGrammar.hexValue(line[i]) {
            guard digits < 15 else { throw .invalidChunkSize }
            size = size << 4 | d
            digits += 1
            i += 1
        }
        guard digits > 0 else { throw .invalidChunkSize }
        var rest = line[i...]
        while let b = rest.first, b == 0x20 || b == 0x09 { rest = rest.dropFirst() }
        if let b = rest.first {
            guard b == UInt8(ascii: ";"), rest.allSatisfy(HTTPGrammar.isFieldValueByte) else { throw .invalidChunkSize }
        }
        return size
    }

    /// Checks the framing headers once the head is complete.
    private mutating func finishHead() throws(HTTPParseError) -> HTTPRequestHead {
        let head = HTTPRequestHead(method: method, target: target, version: version, headers: headers)
        let hosts = headers.values("Host")
        if hosts.count > 1 { throw .duplicateHost }
        if version == .http1_1 && hosts.isEmpty { throw .missingHost }

        let transferCodings = headers.tokens("Transfer-Encoding")
        let lengths = headers.values("Content-Length")
        if headers.contains("Transfer-Encoding") {
            // HTTP/1.0 has no transfer codings: RFC 9112 §6.1 says to treat the framing as faulty.
            guard version == .http1_1 else { throw .transferEncodingInHTTP10 }
            guard lengths.isEmpty else { throw .conflictingFraming }
            guard transferCodings == ["chunked"] else {
                throw .unsupportedTransferEncoding(headers.values("Transfer-Encoding").joined(separator: ", "))
            }
            chunked = true
        } else if !lengths.isEmpty {
            // Several fields (or a list) are allowed only when every value is the same number.
            let values = lengths.flatMap { $0.split(separator: ",", omittingEmptySubsequences: false) }
                .map { $0.trimmingHTTPWhitespace() }
            guard let first = values.first, values.allSatisfy({ $0 == first }),
                  !first.isEmpty, first.utf8.count <= 15, first.utf8.allSatisfy(HTTPGrammar.isDigit),
                  let length = Int(first) else { throw .invalidContentLength }
            contentLength = length
        }

        for expectation in headers.tokens("Expect") where expectation != "100-continue" {
            throw .unsupportedExpectation(expectation)
        }
        return head
    }

    private mutating func finishRequest() -> HTTPParserEvent {
        let event = HTTPParserEvent.end(body: body)
        state = .requestLine
        sectionBytes = 0
        headerCount = 0
        method = ""
        target = ""
        headers = HTTPHeaders()
        chunked = false
        contentLength = 0
        bodyLimit = limits.maxCompletionBodyBytes
        body = []
        return event
    }

    /// Drops consumed bytes once they are worth moving.
    private mutating func compact() {
        if position == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 256 * 1024)
            position = 0
            scanPosition = 0
        } else if position > 64 * 1024 {
            buffer.removeFirst(position)
            scanPosition -= position
            position = 0
        }
    }
}

/// Character classes of RFC 9110.
enum HTTPGrammar {
    /// tchar: the characters of a token (methods, header names).
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            "!#$%&'*+-.^_`|~".utf8.contains(b)
        }
    }

    static func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }

    /// field-vchar, SP and HTAB (obs-text allowed; control characters not).
    static func isFieldValueByte(_ b: UInt8) -> Bool {
        b == 0x09 || (b >= 0x20 && b != 0x7F)
    }

    static func hexValue(_ b: UInt8) -> Int? {
        switch b {
        case 0x30...0x39: Int(b - 0x30)
        case 0x41...0x46: Int(b - 0x41 + 10)
        case 0x61...0x66: Int(b - 0x61 + 10)
        default: nil
        }
    }
}
