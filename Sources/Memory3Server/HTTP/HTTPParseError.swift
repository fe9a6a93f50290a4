/// Why a request could not be read. Each case answers with one status, and the connection is
/// closed afterwards (the framing of anything after a bad request cannot be trusted).
public enum HTTPParseError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalidMethod
    case invalidTarget
    case invalidVersion
    case unsupportedVersion(String)
    /// A line ended with a bare LF or a CR not followed by LF.
    case invalidLineEnding
    case invalidHeaderName
    case invalidHeaderValue(name: String)
    /// A header line starting with whitespace (obsolete line folding, RFC 9112 §5.2).
    case obsoleteLineFolding
    case missingHost
    case duplicateHost
    case invalidContentLength
    /// Both Content-Length and Transfer-Encoding: the framing is ambiguous (request smuggling).
    case conflictingFraming
    /// Transfer-Encoding on an HTTP/1.0 request.
    case transferEncodingInHTTP10
    /// A transfer coding other than `chunked` alone.
    case unsupportedTransferEncoding(String)
    case invalidChunkSize
    case chunkLineTooLong(limit: Int)
    case invalidChunkTerminator
    case invalidTrailer
    case unsupportedExpectation(String)
    case targetTooLong(limit: Int)
    case headersTooLarge(limit: Int)
    case tooManyHeaders(limit: Int)
    case bodyTooLarge(limit: Int)

    /// The status this error answers with.
    public var status: HTTPStatus {
        switch self {
        case .unsupportedVersion: .httpVersionNotSupported
        case .unsupportedTransferEncoding: .notImplemented
        case .unsupportedExpectation: .expectationFailed
        case .targetTooLong: .uriTooLong
        case .headersTooLarge, .tooManyHeaders: .requestHeaderFieldsTooLarge
        case .bodyTooLarge: .payloadTooLarge
        default: .badRequest
        }
    }

    public var description: String {
        switch self {
        case .invalidMethod: "the request method is not a valid token"
        case .invalidTarget: "the request target must be a path like /v1/completions (or an absolute http:// URL), with no spaces or control characters"
        case .invalidVersion: "the request line must end with HTTP/1.1 or HTTP/1.0"
        case .unsupportedVersion(let v): "HTTP version '\(v)' is not supported; use HTTP/1.1"
        case .invalidLineEnding: "lines must end with CRLF"
        case .invalidHeaderName: "a header name is empty or has characters outside the token set"
        case .invalidHeaderValue(let name): "the value of header '\(name)' has control characters"
        case .obsoleteLineFolding: "header lines may not start with whitespace (obsolete line folding)"
        case .missingHost: "HTTP/1.1 requests need a Host header"
        case .duplicateHost: "more than one Host header"
        case .invalidContentLength: "Content-Length must be one non-negative decimal number"
        case .conflictingFraming: "a request may not have both Content-Length and Transfer-Encoding"
        case .transferEncodingInHTTP10: "HTTP/1.0 has no Transfer-Encoding; send Content-Length (or use HTTP/1.1)"
        case .unsupportedTransferEncoding(let te): "transfer coding '\(te)' is not supported; only 'chunked'"
        case .invalidChunkSize: "a chunk size is not a hexadecimal number"
        case .chunkLineTooLong(let limit): "a chunk-size line is longer than \(limit) bytes"
        case .invalidChunkTerminator: "chunk data must be followed by CRLF"
        case .invalidTrailer: "the chunked body's trailer is malformed"
        case .unsupportedExpectation(let e): "expectation '\(e)' is not supported; only '100-continue'"
        case .targetTooLong(let limit): "the request line is longer than the \(limit)-byte header limit"
        case .headersTooLarge(let limit): "the request headers are larger than \(limit) bytes"
        case .tooManyHeaders(let limit): "more than \(limit) header lines"
        case .bodyTooLarge(let limit): "the request body is larger than this route's limit of \(limit) bytes"
        }
    }
}
