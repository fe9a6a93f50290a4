/// Checks `Authorization: Bearer <key>` against the configured keys. With no keys configured
/// every request passes.
public struct APIKeyAuthenticator: Sendable {
    private let keys: [[UInt8]]

    public init(keys: [String]) {
        self.keys = keys.filter { !$0.isEmpty }.map { Array($0.utf8) }
    }

    public var isEnabled: Bool { !keys.isEmpty }

    public func check(_ headers: HTTPHeaders) throws(APIError) {
        guard isEnabled else { return }
        guard let authorization = headers["Authorization"] else { throw .missingAPIKey }
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].caseInsensitiveEquals("Bearer") else { throw .missingAPIKey }
        let presented = Array(parts[1].trimmingHTTPWhitespace().utf8)
        // Compare against every key in time independent of where they differ.
        var matched = false
        for key in keys { matched = Self.constantTimeEquals(key, presented) || matched }
        guard matched else { throw .invalidAPIKey }
    }

    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for i in 0 ..< max(a.count, b.count) {
            difference |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return difference == 0
    }
}
