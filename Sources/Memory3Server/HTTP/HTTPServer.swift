import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where and how the HTTP layer listens.
public struct HTTPServerConfiguration: Sendable {
    public var host = "127.0.0.1"
    /// 0 picks a free port (see `HTTPServer.port`).
    public var port = 8080
    public var backlog: Int32 = 512
    public var limits = HTTPLimits()
    /// Responses at least this large (JSON or text) are gzip-compressed when the client accepts it.
    public var gzipMinimumBytes = 1024
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    public var tls: TLSContext?

    public init(host: String = "127.0.0.1", port: Int = 8080, limits: HTTPLimits = HTTPLimits()) {
        self.host = host
        self.port = port
        self.limits = limits
    }
}

/// HTTP/1.1 over POSIX sockets. One event-loop thread (poll) accepts connections, reads and
/// parses requests, enforces every limit and timeout, and answers malformed requests itself;
/// each complete request runs on a thread of a bounded pool (`RequestPool`), which writes the
/// response and hands a keep-alive connection back to the loop. Idle connections cost a file descriptor and a few
/// hundred bytes, no thread.
public final class HTTPServer: @unchecked Sendable {
    /// Fixed once `start` returns.
    public private(set) var configuration: HTTPServerConfiguration
    let handler: any HTTPHandler
    private var limits: HTTPLimits { configuration.limits }

    private var listenFD: Int32 = -1
    /// The self-pipe that wakes the loop: request threads write to `wakeFD`.
    private var wakeReadFD: Int32 = -1
    private var wakeFD: Int32 = -1
    public private(set) var port = 0

    // Loop-owned state.
    private var connections: [Int32: Connection] = [:]
    private var nextConnectionID: UInt64 = 0
    private var lastTimeoutCheck = 0.0
    /// Out of file descriptors: stop polling the listener for a moment instead of spinning.
    private var acceptPausedUntil = 0.0

    /// Connections handed back by request threads.
    private let inbox = Mutex<[(Connection, keepAlive: Bool)]>([])
    private let draining = Atomic<Bool>(false)
    private let stopNow = Atomic<Bool>(false)
    private let activeRequests = Atomic<Int>(0)
    private let openConnections = Atomic<Int>(0)
    private let loopExited = DispatchSemaphore(value: 0)
    private var loopThread: Thread?

    /// The threads that answer complete requests.
    private let pool: RequestPool
    /// Two threads for /health and /ready only.
    private let probePool = RequestPool(maxThreads: 2)

    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
        self.pool = RequestPool(maxThreads: configuration.limits.maxRequestThreads)
    }

    /// Request threads started so far (at most `limits.maxRequestThreads`).
    public var requestThreadCount: Int { pool.threadCount }

    /// Requests being answered right now (their threads).
    public var activeRequestCount: Int { activeRequests.load(ordering: .relaxed) }
    public var openConnectionCount: Int { openConnections.load(ordering: .relaxed) }
    public var isDraining: Bool { draining.load(ordering: .relaxed) }

    /// Binds, listens, and starts the event loop (serving HTTPS when `tls` or the configuration
    /// has a TLS context). Throws if the address cannot be bound.
    public func start(tls: TLSContext? = nil) throws {
        if let tls { configuration.tls = tls }
        signal(SIGPIPE, SIG_IGN)
        let (fd, boundPort) = try Socket.listen(host: configuration.host, port: configuration.port, backlog: configuration.backlog)
        listenFD = fd
        port = boundPort
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { throw SocketError("pipe") }
        for end in ends { Socket.makeNonBlocking(end) }
        wakeReadFD = ends[0]
        wakeFD = ends[1]
        let thread = Thread { [self] in
            runLoop()
            loopExited.signal()
        }
        thread.name = "http-loop"
        thread.stackSize = 1 << 20
        loopThread = thread
        thread.start()
    }

    /// Stops accepting, closes idle connections, and waits up to `grace` seconds for the
    /// requests in flight to finish. Then `forceStop` runs (cancel what still runs) and the loop
    /// gets two more seconds before it is abandoned. Returns when the loop has exited.
    public func shutdown(grace: Double, forceStop: @Sendable () -> Void = {}) {
        draining.store(true, ordering: .relaxed)
        wake()
        let deadline = MonotonicClock.now() + grace
        while activeRequests.load(ordering: .relaxed) > 0 && MonotonicClock.now() < deadline {
            usleep(20_000)
        }
        if activeRequests.load(ordering: .relaxed) > 0 {
            forceStop()
            let hard = MonotonicClock.now() + 2
            while activeRequests.load(ordering: .relaxed) > 0 && MonotonicClock.now() < hard { usleep(20_000) }
        }
        stopNow.store(true, ordering: .relaxed)
        wake()
        _ = loopExited.wait(timeout: .now() + 3)
    }

    // MARK: - Event loop

    private func runLoop() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var drainingSeen = false
        var fds: [pollfd] = []
        while !stopNow.load(ordering: .relaxed) {
            // poll(2) over the listener, the wake pipe and every connection the loop owns: one
            // pass over ~1,000 descriptors costs microseconds, and needs nothing outside Glibc.
            fds.removeAll(keepingCapacity: true)
            fds.append(pollfd(fd: wakeReadFD, events: Int16(POLLIN), revents: 0))
            if listenFD >= 0 && MonotonicClock.now() >= acceptPausedUntil { fds.append(pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)) }
            // TLS can hold input poll(2) does not see (records read ahead): those go round at once.
            var buffered: [Connection] = []
            for (fd, connection) in connections where connection.phase != .dispatched {
                fds.append(pollfd(fd: fd, events: connection.channel.pollEvents, revents: 0))
                if connection.channel.hasBufferedInput { buffered.append(connection) }
            }
            let count = fds.withUnsafeMutableBufferPointer { poll($0.baseAddress, nfds_t($0.count), buffered.isEmpty ? 50 : 0) }
            if count < 0 && errno != EINTR { break }
            if count > 0 {
                for p in fds where p.revents != 0 {
                    if p.fd == wakeReadFD {
                        var sink = [UInt8](repeating: 0, count: 256)
                        while Glibc.read(wakeReadFD, &sink, sink.count) > 0 {}
                    } else if p.fd == listenFD {
                        acceptAll()
                    } else if let connection = connections[p.fd], connection.phase != .dispatched {
                        buffer.withUnsafeMutableBytes { readAvailable(connection, buffer: $0) }
                        buffered.removeAll { $0 === connection }
                    }
                }
            }
            for connection in buffered where connections[connection.fd] === connection && connection.phase != .dispatched {
                buffer.withUnsafeMutableBytes { readAvailable(connection, buffer: $0) }
            }
            takeBackConnections()
            if draining.load(ordering: .relaxed) && !drainingSeen {
                drainingSeen = true
                stopAccepting()
            }
            let now = MonotonicClock.now()
            if now - lastTimeoutCheck >= 0.05 {
                lastTimeoutCheck = now
                enforceDeadlines(now: now, draining: drainingSeen)
            }
        }
        takeBackConnections()
        for connection in connections.values where connection.phase != .dispatched { closeConnection(connection) }
        if listenFD >= 0 { close(listenFD); listenFD = -1 }
        close(wakeReadFD)
        close(wakeFD)
    }

    private func wake() {
        var one: UInt8 = 1
        _ = Glibc.write(wakeFD, &one, 1)
    }

    private func stopAccepting() {
        if listenFD >= 0 {
            close(listenFD)
            listenFD = -1
        }
        for connection in connections.values {
            switch connection.phase {
            case .awaitingRequest, .readingHead, .lingering: closeConnection(connection)
            default: break
            }
        }
    }

    private func acceptAll() {
        while listenFD >= 0 {
            guard let (fd, peer) = Socket.accept(listenFD) else {
                if errno == EMFILE || errno == ENFILE { acceptPausedUntil = MonotonicClock.now() + 0.1 }
                return
            }
            let fromPeer = connections.values.reduce(0) { $0 + ($1.peer == peer ? 1 : 0) }
            if fromPeer >= limits.maxConnectionsPerClient {
                _ = closeOldestWaiting(from: peer)
            } else if connections.count >= limits.maxConnections {
                _ = closeOldestWaiting(from: nil)
            }
            guard connections.count < limits.maxConnections,
                  connections.values.reduce(0, { $0 + ($1.peer == peer ? 1 : 0) }) < limits.maxConnectionsPerClient else {
                // A TLS client could not read a plain answer: it just sees the close.
                guard configuration.tls == nil else {
                    close(fd)
                    handler.finished(RequestRecord(method: "-", path: "-", status: 503, seconds: 0, peer: peer, error: "connection limit"))
                    continue
                }
                let message = connections.count >= limits.maxConnections
                    ? "the server has \(limits.maxConnections) open connections, its limit, all busy; retry later"
                    : "this client has \(limits.maxConnectionsPerClient) open connections, the limit per client, all busy; retry later"
                let body = Self.errorBody(message, type: "server_busy")
                _ = Socket.sendNow(fd, Self.simpleResponse(.serviceUnavailable, body: body, extra: [("Retry-After", "1")]))
                close(fd)
                handler.finished(RequestRecord(method: "-", path: "-", status: 503, seconds: 0, peer: peer, error: "connection limit"))
                continue
            }
            var session: TLSSession?
            if let tls = configuration.tls {
                guard let made = tls.session(fd: fd) else {
                    close(fd)
                    handler.finished(RequestRecord(method: "-", path: "-", status: 503, seconds: 0, peer: peer, error: "cannot start a TLS session\(TLSError.openSSLReasons())"))
                    continue
                }
                session = made
            }
            nextConnectionID += 1
            let connection = Connection(channel: ConnectionChannel(fd: fd, tls: session), id: nextConnectionID, peer: peer, limits: limits, now: MonotonicClock.now())
            connections[fd] = connection
            openConnections.store(connections.count, ordering: .relaxed)
        }
    }

    private func readAvailable(_ connection: Connection, buffer: UnsafeMutableRawBufferPointer) {
        // Bounded per wake-up so one fast sender cannot starve the others.
        for _ in 0 ..< 16 {
            switch connection.channel.read(into: buffer) {
            case .data(let n):
                if case .lingering = connection.phase {
                    connection.discarded += n
                    if connection.discarded > limits.lingerBytes {
                        closeConnection(connection)
                        return
                    }
                    continue
                }
                connection.parser.append(UnsafeRawBufferPointer(rebasing: buffer[0 ..< n]))
                process(connection)
                if connection.phase == .dispatched { return }
            case .wouldBlock:
                return
            case .closed:
                if connection.channel.sawPlainHTTP, !connection.isLingering {
                    refusePlainHTTP(connection)
                } else {
                    if let failure = connection.channel.failure, !connection.channel.sawPlainHTTP {
                        handler.finished(RequestRecord(method: "-", path: "-", status: 400, seconds: 0, peer: connection.peer, error: failure))
                    }
                    closeConnection(connection)
                }
                return
            }
        }
    }

    /// A client that spoke plain HTTP to the HTTPS port gets a plain-HTTP 400 that says so.
    private func refusePlainHTTP(_ connection: Connection) {
        let message = "this port serves HTTPS: use an https:// URL"
        _ = connection.channel.sendNow(Self.simpleResponse(.badRequest, body: Self.errorBody(message, type: "invalid_request_error"),
                                                           extra: [("Connection", "close")]))
        handler.finished(RequestRecord(method: "-", path: "-", status: 400, seconds: 0, peer: connection.peer, error: connection.channel.failure))
        connection.channel.shutdownWrite()
        connection.phase = .lingering(until: MonotonicClock.now() + limits.lingerTimeout)
    }

    /// Runs the parser over what arrived and acts on each event.
    private func process(_ connection: Connection) {
        let now = MonotonicClock.now()
        if case .awaitingRequest(let since, let first) = connection.phase, !connection.parser.isBetweenRequests {
            connection.phase = .readingHead(since: first ? since : now)
            connection.requestStart = now
            connection.requestStartDate = Date()
        }
        while connection.phase != .dispatched {
            if case .lingering = connection.phase { return }
            let event: HTTPParserEvent?
            do {
                event = try connection.parser.next()
            } catch {
                refuse(connection, status: error.status, message: error.description, type: "invalid_request_error")
                return
            }
            guard let event else { return }
            switch event {
            case .head(let head):
                connection.head = head
                if Self.announcesBody(head, within: Int.max), let refusal = handler.refusal(for: head) {
                    refuse(connection, with: refusal)
                    return
                }
                connection.phase = .readingBody(since: MonotonicClock.now())
                let limit = handler.bodyLimit(for: head)
                connection.parser.setBodyLimit(limit)
                if head.expectsContinue && head.version == .http1_1 && Self.announcesBody(head, within: limit) {
                    _ = connection.channel.sendNow(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8))
                }
            case .end(let body):
                guard let head = connection.head else { return }
                dispatch(connection, request: HTTPRequest(head: head, body: body, receivedAt: connection.requestStartDate))
            }
        }
    }

    /// Whether a body follows and is within the limit (so 100 Continue is worth sending).
    private static func announcesBody(_ head: HTTPRequestHead, within limit: Int) -> Bool {
        if head.headers.contains("Transfer-Encoding") { return true }
        guard let length = head.headers["Content-Length"].flatMap({ Int($0) }) else { return false }
        return length > 0 && length <= limit
    }

    /// Answers a request the HTTP layer cannot serve, then lingers and closes.
    private func refuse(_ connection: Connection, status: HTTPStatus, message: String, type: String) {
        let requestID = RequestID.make(from: connection.head?.headers)
        let body = Self.errorBody(message, type: type, requestID: requestID)
        _ = connection.channel.sendNow(Self.simpleResponse(status, body: body, extra: [("Connection", "close"), ("X-Request-Id", requestID)]))
        let start = connection.requestStart > 0 ? connection.requestStart : MonotonicClock.now()
        handler.finished(RequestRecord(
            method: connection.head?.method ?? "-", path: connection.head?.path ?? "-", status: status.code,
            seconds: MonotonicClock.now() - start, peer: connection.peer, error: message, requestID: requestID))
        connection.channel.shutdownWrite()
        connection.phase = .lingering(until: MonotonicClock.now() + limits.lingerTimeout)
    }

    /// Answers from the head alone, without reading the announced body, then lingers and closes.
    private func refuse(_ connection: Connection, with response: HTTPResponse) {
        var headers = response.headers
        let requestID = headers["X-Request-Id"] ?? RequestID.make(from: connection.head?.headers)
        headers.set("X-Request-Id", requestID)
        let body: [UInt8] = if case .bytes(let bytes) = response.body { bytes } else { [] }
        headers.set("Content-Length", String(body.count))
        headers.set("Connection", "close")
        headers.set("Server", "memory3")
        headers.set("Date", HTTPDate.now())
        _ = connection.channel.sendNow(HTTPResponse.serializeHead(status: response.status, version: .http1_1, headers: headers) + body)
        let start = connection.requestStart > 0 ? connection.requestStart : MonotonicClock.now()
        handler.finished(RequestRecord(
            method: connection.head?.method ?? "-", path: connection.head?.path ?? "-", status: response.status.code,
            seconds: MonotonicClock.now() - start, peer: connection.peer, error: nil, requestID: requestID))
        connection.channel.shutdownWrite()
        connection.phase = .lingering(until: MonotonicClock.now() + limits.lingerTimeout)
    }

    private func enforceDeadlines(now: Double, draining: Bool) {
        for connection in Array(connections.values) {
            guard let (deadline, status) = connection.deadline(limits: limits), now >= deadline else { continue }
            if let status {
                let which = if case .readingBody = connection.phase { "body" } else { "headers" }
                refuse(connection, status: status, message: "the request \(which) did not arrive within the time limit", type: "timeout")
            } else {
                closeConnection(connection)
            }
        }
    }

    /// Closes the connection that has waited longest for a request without sending a byte of
    /// one (of `peer` only, when given); false when every such connection is busy.
    private func closeOldestWaiting(from peer: String?) -> Bool {
        var oldest: (connection: Connection, since: Double)?
        for connection in connections.values where peer == nil || connection.peer == peer {
            guard case .awaitingRequest(let since, _) = connection.phase, connection.parser.isBetweenRequests else { continue }
            if oldest == nil || since < oldest!.since { oldest = (connection, since) }
        }
        guard let oldest else { return false }
        closeConnection(oldest.connection)
        return true
    }

    private func closeConnection(_ connection: Connection) {
        connection.channel.close()
        connections.removeValue(forKey: connection.fd)
        openConnections.store(connections.count, ordering: .relaxed)
    }

    // MARK: - Request threads

    private func dispatch(_ connection: Connection, request: HTTPRequest) {
        connection.phase = .dispatched
        connection.requestCount += 1
        activeRequests.add(1, ordering: .relaxed)
        // Health and readiness probes have threads of their own: they answer even when every
        // request thread is busy streaming.
        let isProbe = (request.method == "GET" || request.method == "HEAD") && (request.path == "/health" || request.path == "/ready")
        (isProbe ? probePool : pool).submit { [self] in
            // A client that left while its request waited for a thread gets no work done.
            let keepAlive: Bool
            if Socket.peerClosed(connection.fd) {
                handler.finished(RequestRecord(
                    method: request.method, path: request.path, status: 499,
                    seconds: MonotonicClock.now() - connection.requestStart, peer: connection.peer,
                    error: nil, clientGone: true, requestID: RequestID.make(from: request.headers)))
                keepAlive = false
            } else {
                keepAlive = serve(connection, request: request)
            }
            inbox.withLock { $0.append((connection, keepAlive)) }
            activeRequests.subtract(1, ordering: .relaxed)
            wake()
        }
    }

    private func takeBackConnections() {
        let returned = inbox.withLock { items -> [(Connection, keepAlive: Bool)] in
            defer { items.removeAll() }
            return items
        }
        for (connection, keepAlive) in returned {
            guard keepAlive, !draining.load(ordering: .relaxed) else {
                closeConnection(connection)
                continue
            }
            connection.head = nil
            connection.phase = .awaitingRequest(since: MonotonicClock.now(), first: false)
            // A pipelined request may already be buffered.
            if !connection.parser.isBetweenRequests { process(connection) }
        }
    }

    /// Answers one request on its thread. Returns whether the connection may serve another.
    private func serve(_ connection: Connection, request: HTTPRequest) -> Bool {
        let context = RequestContext(fd: connection.fd, peer: connection.peer, startedAt: connection.requestStart,
                                     requestID: RequestID.make(from: request.headers))
        var response = handler.respond(to: request, context: context)
        response.headers.set("X-Request-Id", context.requestID)
        let version = request.head.version
        let isHead = request.method == "HEAD"
        var keepAlive = request.head.keepAlive && !isDraining && response.headers["Connection"]?.lowercased() != "close"
        let writer = ResponseWriter(channel: connection.channel, timeout: limits.writeTimeout)
        response.headers.set("Server", "memory3")
        response.headers.set("Date", HTTPDate.now())

        var ok: Bool
        switch response.body {
        case .bytes(var body):
            if !isHead, body.count >= configuration.gzipMinimumBytes, Self.isCompressible(response.headers),
               !response.headers.contains("Content-Encoding"), AcceptEncoding.allowsGzip(request.headers),
               let compressed = Gzip.compress(body) {
                body = compressed
                response.headers.set("Content-Encoding", "gzip")
                response.headers.add("Vary", "Accept-Encoding")
            }
            response.headers.set("Content-Length", String(body.count))
            setConnectionHeader(&response.headers, keepAlive: keepAlive, version: version)
            ok = writer.writeHead(HTTPResponse.serializeHead(status: response.status, version: version, headers: response.headers), chunked: false)
            if ok && !isHead { ok = writer.write(body) }
        case .stream(let produce):
            // HTTP/1.0 has no chunked encoding: the body ends when the connection closes.
            let chunked = version == .http1_1
            if !chunked { keepAlive = false }
            if chunked { response.headers.set("Transfer-Encoding", "chunked") }
            setConnectionHeader(&response.headers, keepAlive: keepAlive, version: version)
            ok = writer.writeHead(HTTPResponse.serializeHead(status: response.status, version: version, headers: response.headers), chunked: chunked)
            if ok && !isHead { produce(writer) }
            ok = !writer.failed && (isHead || writer.finish())
        }
        handler.finished(RequestRecord(
            method: request.method, path: request.path, status: response.status.code,
            seconds: MonotonicClock.now() - connection.requestStart, peer: connection.peer,
            error: nil, clientGone: !ok, requestID: context.requestID, fields: context.fields))
        return ok && keepAlive
    }

    private func setConnectionHeader(_ headers: inout HTTPHeaders, keepAlive: Bool, version: HTTPVersion) {
        if !keepAlive {
            headers.set("Connection", "close")
        } else if version == .http1_0 {
            headers.set("Connection", "keep-alive")
        } else {
            headers.remove("Connection")
        }
    }

    private static func isCompressible(_ headers: HTTPHeaders) -> Bool {
        guard let type = headers["Content-Type"]?.lowercased() else { return false }
        return type.hasPrefix("application/json") || type.hasPrefix("text/")
    }

    // MARK: - Responses made by the HTTP layer

    static func errorBody(_ message: String, type: String, requestID: String? = nil) -> [UInt8] {
        let error = ErrorEnvelope(error: .init(message: message, type: type, param: nil, code: nil, request_id: requestID))
        return Array((try? JSONCoding.encoder.encode(error)) ?? Data())
    }

    static func simpleResponse(_ status: HTTPStatus, body: [UInt8], extra: [(String, String)] = []) -> [UInt8] {
        var headers = HTTPHeaders([("Content-Type", "application/json"), ("Content-Length", String(body.count)),
                                   ("Server", "memory3"), ("Date", HTTPDate.now())])
        for (name, value) in extra { headers.add(name, value) }
        return HTTPResponse.serializeHead(status: status, version: .http1_1, headers: headers) + body
    }
}
