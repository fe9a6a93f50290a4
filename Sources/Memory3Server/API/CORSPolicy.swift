/// Cross-origin access for browsers (`server.cors_origins`; none by default, so a page on another
/// origin cannot call the API). An allowed origin gets `Access-Control-Allow-Origin` on every
/// answer (errors included, so the page can read them) and its preflight `OPTIONS` is answered
/// 204 without a key (browsers send none with a preflight).
public struct CORSPolicy: Sendable, Equatable {
    /// Exact origins (`https://app.example.com`), or `*` for any.
    public let origins: [String]

    public init(origins: [String]) {
        self.origins = origins
    }

    public var isEnabled: Bool { !origins.isEmpty }

    /// Checks one configured origin: `*`, or `http(s)://host[:port]` with nothing after.
    public static func isValidOrigin(_ origin: String) -> Bool {
        if origin == "*" { return true }
        guard origin.hasPrefix("http://") || origin.hasPrefix("https://") else { return false }
        let rest = origin.split(separator: "/", omittingEmptySubsequences: false).dropFirst(2)
        return rest.count == 1 && !(rest.first?.isEmpty ?? true)
    }

    func allows(_ origin: String) -> Bool { origins.contains("*") || origins.contains(origin) }

    /// The headers an answer to a request from `origin` carries (none when it is not allowed).
    func headers(origin: String?) -> [(String, String)] {
        guard isEnabled, let origin, allows(origin) else { return [] }
        return [
            ("Access-Control-Allow-Origin", origins.contains("*") ? "*" : origin),
            ("Vary", "Origin"),
            ("Access-Control-Expose-Headers", "X-Request-Id, Retry-After, Location"),
        ]
    }

    /// The answer to a preflight (`OPTIONS` with `Access-Control-Request-Method`) for a route that
    /// exists with `allowed` methods; nil when this is not an allowed preflight.
    func preflight(_ head: HTTPRequestHead, allowed: [String]) -> HTTPResponse? {
        guard isEnabled, head.method == "OPTIONS", let origin = head.headers["Origin"], allows(origin),
              head.headers["Access-Control-Request-Method"] != nil else { return nil }
        var headers = HTTPHeaders(self.headers(origin: origin))
        headers.add("Access-Control-Allow-Methods", allowed.joined(separator: ", "))
        headers.add("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Request-Id, X-Document-Title")
        headers.add("Access-Control-Max-Age", "600")
        return HTTPResponse(status: .noContent, headers: headers)
    }
}
