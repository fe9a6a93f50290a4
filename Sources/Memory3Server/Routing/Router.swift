import Foundation

/// Which body limit a route gets.
public enum BodyLimitClass: Sendable {
    /// `limits.maxCompletionBodyBytes` (1 MiB by default): completions and everything small.
    case standard
    /// `limits.maxDocumentBodyBytes` (32 MiB by default): document uploads.
    case document
}

/// The request a route handler sees: the HTTP request, the path parameters, and its context.
public struct RouteRequest: Sendable {
    public var http: HTTPRequest
    public var parameters: [String: String]
    public var context: RequestContext
}

/// One method on one path pattern (`/v1/documents/{id}`).
public struct Route: Sendable {
    public typealias Handler = @Sendable (RouteRequest) throws(APIError) -> HTTPResponse

    public let method: String
    public let pattern: String
    public let bodyLimit: BodyLimitClass
    /// Whether an API key is needed (when keys are configured).
    public let requiresKey: Bool
    public let handler: Handler
    let segments: [Substring]

    public init(_ method: String, _ pattern: String, bodyLimit: BodyLimitClass = .standard, requiresKey: Bool = true,
                handler: @escaping Handler) {
        self.method = method
        self.pattern = pattern
        self.bodyLimit = bodyLimit
        self.requiresKey = requiresKey
        self.handler = handler
        self.segments = pattern.split(separator: "/", omittingEmptySubsequences: false)
    }

    /// The path parameters if `path` fits the pattern.
    func match(_ path: String) -> [String: String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == segments.count else { return nil }
        var parameters: [String: String] = [:]
        for (segment, part) in zip(segments, parts) {
            if segment.hasPrefix("{") && segment.hasSuffix("}") {
                guard !part.isEmpty, let decoded = part.removingPercentEncoding else { return nil }
                parameters[String(segment.dropFirst().dropLast())] = decoded
            } else if segment != part {
                return nil
            }
        }
        return parameters
    }
}

/// Finds the route for a method and path; tells "no such path" (404) from "wrong method" (405,
/// with the methods that would work).
public struct Router: Sendable {
    public enum Match {
        case found(Route, [String: String])
        case methodNotAllowed(allowed: [String])
        case notFound
    }

    public private(set) var routes: [Route] = []

    public init(_ routes: [Route] = []) { self.routes = routes }

    public mutating func add(_ route: Route) { routes.append(route) }

    public func match(method: String, path: String) -> Match {
        var allowed: [String] = []
        // HEAD is GET without the body.
        let lookup = method == "HEAD" ? "GET" : method
        for route in routes {
            guard let parameters = route.match(path) else { continue }
            if route.method == lookup { return .found(route, parameters) }
            allowed.append(route.method)
            if route.method == "GET" { allowed.append("HEAD") }
        }
        return allowed.isEmpty ? .notFound : .methodNotAllowed(allowed: allowed)
    }

    /// The pattern that `path` matches, for metrics labels ("other" for unknown paths, so that
    /// scanners cannot blow up the label set).
    public func routeLabel(path: String) -> String {
        routes.first { $0.match(path) != nil }?.pattern ?? "other"
    }
}
