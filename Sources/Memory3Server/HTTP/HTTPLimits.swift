/// Every limit the HTTP layer enforces, each a named value (configured in `limits` of
/// config/memory3.json). Sizes are bytes; times are seconds.
public struct HTTPLimits: Sendable, Equatable {
    /// Request line plus headers. Over it: 414 while still in the request line, 431 after.
    public var maxHeaderBytes = 16 * 1024
    /// Header lines in one request (431 over it).
    public var maxHeaderCount = 100
    /// Body of the completion routes and every route not named otherwise (413 over it).
    public var maxCompletionBodyBytes = 1024 * 1024
    /// Body of document uploads (413 over it).
    public var maxDocumentBodyBytes = 32 * 1024 * 1024
    /// One chunk-size line of a chunked body, extensions included (400 over it).
    public var maxChunkLineBytes = 1024
    /// Open connections. At the limit the oldest connection waiting for a request is closed to
    /// make room; when every connection is busy a new one gets 503 and is closed.
    public var maxConnections = 1024
    /// Open connections from one client address; past it that client's oldest waiting connection
    /// is closed for the new one (503 when none waits), so one client cannot take every slot.
    public var maxConnectionsPerClient = 256
    /// Threads answering complete requests (a streamed completion holds one while it streams);
    /// requests beyond them wait in order, and one whose client has left by then is dropped.
    public var maxRequestThreads = 128
    /// From a connection's first byte (or accept) to the end of its headers (408 then close).
    public var headerTimeout: Double = 10
    /// From the end of the headers to the end of the body (408 then close).
    public var bodyTimeout: Double = 60
    /// How long a keep-alive connection may wait for its next request before it is closed.
    public var idleTimeout: Double = 30
    /// How long one blocked write may wait for the client to read (the connection is dropped).
    public var writeTimeout: Double = 30
    /// After an error response, how long the rest of the request is read and discarded before
    /// the socket is closed (so the client sees the response instead of a reset).
    public var lingerTimeout: Double = 2
    /// ... or until this many bytes were discarded: a refused 32 MB upload is not read to its end.
    public var lingerBytes = 1 << 20

    public init() {}
}
