/// The application behind the HTTP layer: routes requests, checks API keys, turns every
/// `APIError` into its response, and logs and counts every request.
final class APIServer: HTTPHandler {
    let router: Router
    let limits: HTTPLimits
    let authenticator: APIKeyAuthenticator
    let metrics: ServerMetrics
    let log: RequestLog
    let cors: CORSPolicy

    init(router: Router, limits: HTTPLimits, authenticator: APIKeyAuthenticator, metrics: ServerMetrics, log: RequestLog,
         cors: CORSPolicy = CORSPolicy(origins: [])) {
        self.router = router
        self.limits = limits
        self.authenticator = authenticator
        self.metrics = metrics
        self.log = log
        self.cors = cors
    }

    /// The response with the CORS headers its request's origin gets.
    func withCORS(_ response: HTTPResponse, origin: String?) -> HTTPResponse {
        var response = response
        for (name, value) in cors.headers(origin: origin) { response.headers.set(name, value) }
        return response
    }

    func bodyLimit(for head: HTTPRequestHead) -> Int {
        if case .found(let route, _) = router.match(method: head.method, path: head.path), route.bodyLimit == .document {
            return limits.maxDocumentBodyBytes
        }
        return limits.maxCompletionBodyBytes
    }

    func refusal(for head: HTTPRequestHead) -> HTTPResponse? {
        let requestID = RequestID.make(from: head.headers)
        do throws(APIError) {
            switch router.match(method: head.method, path: head.path) {
            case .notFound:
                throw .notFound("no route for '\(head.path)'")
            case .methodNotAllowed(let allowed):
                if cors.preflight(head, allowed: allowed) != nil { return nil }  // answered in respond
                throw .methodNotAllowed(method: head.method, allowed: allowed)
            case .found(let route, _):
                if route.requiresKey { try authenticator.check(head.headers) }
                return nil
            }
        } catch {
            return withCORS(error.response(requestID: requestID), origin: head.headers["Origin"])
        }
    }

    func respond(to request: HTTPRequest, context: RequestContext) -> HTTPResponse {
        let origin = request.headers["Origin"]
        do throws(APIError) {
            switch router.match(method: request.method, path: request.path) {
            case .notFound:
                throw .notFound("no route for '\(request.path)'")
            case .methodNotAllowed(let allowed):
                if let preflight = cors.preflight(request.head, allowed: allowed) { return preflight }
                throw .methodNotAllowed(method: request.method, allowed: allowed)
            case .found(let route, let parameters):
                if route.requiresKey { try authenticator.check(request.headers) }
                return withCORS(try route.handler(RouteRequest(http: request, parameters: parameters, context: context)), origin: origin)
            }
        } catch {
            return withCORS(error.response(requestID: context.requestID), origin: origin)
        }
    }

    func finished(_ record: RequestRecord) {
        let route = record.path == "-" ? "-" : router.routeLabel(path: record.path)
        metrics.recordRequest(route: route, method: Self.methodLabel(record.method), status: record.status, seconds: record.seconds)
        if let error = record.error { metrics.recordRejection(reason: Self.rejectionReason(status: record.status, error: error)) }
        log.record(record, route: route)
    }

    /// Metric labels come from a closed set: any method a client makes up counts as "other"
    /// (a label per made-up method would grow /metrics without bound).
    static func methodLabel(_ method: String) -> String {
        knownMethods.contains(method) ? method : "other"
    }

    static let knownMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"]

    static func rejectionReason(status: Int, error: String) -> String {
        switch status {
        case 408: "timeout"
        case 413: "body_too_large"
        case 414, 431: "headers_too_large"
        case 503: "connection_limit"
        default: "malformed"
        }
    }
}
