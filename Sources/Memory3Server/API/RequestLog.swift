import Foundation

/// One line per request on stderr: time, peer, method, path, status, milliseconds (and why,
/// when the HTTP layer refused it).
public struct RequestLog: Sendable {
    public let enabled: Bool
    private let sink: @Sendable (String) -> Void

    public init(enabled: Bool = true, sink: @escaping @Sendable (String) -> Void = RequestLog.standardError) {
        self.enabled = enabled
        self.sink = sink
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    public func record(_ r: RequestRecord) {
        guard enabled else { return }
        var line = "\(Self.timestamp()) \(r.peer) \(r.method) \(r.path) \(r.status) \(String(format: "%.1f", r.seconds * 1000)) ms"
        if let error = r.error { line += " (\(error))" }
        if r.clientGone { line += " (client gone)" }
        sink(line)
    }

    /// A line about the server itself (start, model load, shutdown).
    public func event(_ message: String) {
        sink("\(Self.timestamp()) \(message)")
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeSeparator(.colon))
    }
}
