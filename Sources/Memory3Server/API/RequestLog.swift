import Foundation
import Logging
import Memory3Engine

/// The server's log, on swift-log: one line per request (request id, route, status, duration,
/// and what the route added: tokens, memory mode, references, queue wait, time to first token)
/// and a line per server event (start, model load, ingestion progress, shutdown). `text` lines are
/// for people, `json` lines (one object each) for log pipelines.
public struct RequestLog: Sendable {
    public enum Format: String, Sendable, CaseIterable {
        case text, json
    }

    public let enabled: Bool
    public let format: Format
    private let logger: Logger

    public init(enabled: Bool = true, format: Format = .text, sink: @escaping @Sendable (String) -> Void = RequestLog.standardError) {
        self.enabled = enabled
        self.format = format
        logger = Logger(label: "memory3") { _ in LineLogHandler(format: format, sink: sink) }
    }

    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// One answered request. `route` is its route's pattern (a closed set).
    public func record(_ r: RequestRecord, route: String) {
        guard enabled else { return }
        var metadata: Logger.Metadata = [
            "request_id": .string(r.requestID ?? "-"), "peer": .string(r.peer), "method": .string(r.method),
            "path": .string(r.path), "route": .string(route), "status": .stringConvertible(r.status),
            "duration_ms": .string(String(format: "%.1f", r.seconds * 1000)),
        ]
        if let error = r.error { metadata["error"] = .string(error) }
        if r.clientGone { metadata["client_gone"] = .stringConvertible(true) }
        for (key, value) in r.fields { metadata[key] = .string(value) }
        var message = "\(r.peer) \(r.method) \(r.path) \(r.status) \(String(format: "%.1f", r.seconds * 1000)) ms"
        if let error = r.error { message += " (\(error))" }
        if r.clientGone { message += " (client gone)" }
        logger.info(Logger.Message(stringLiteral: message), metadata: metadata, source: "request")
    }

    /// A line about the server itself (start, model load, ingestion, shutdown), always written.
    public func event(_ message: String, _ metadata: Logger.Metadata = [:]) {
        logger.info(Logger.Message(stringLiteral: message), metadata: metadata, source: "server")
    }

    static func timestamp() -> String {
        Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeSeparator(.colon))
    }
}

/// Writes each log record as one line: `text` is the time, the message, then the request fields
/// as key=value (the request line's own fields are already in its message); `json` is one object
/// with time, level, source, message and every field.
struct LineLogHandler: LogHandler {
    let format: RequestLog.Format
    let sink: @Sendable (String) -> Void
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .info

    /// Shown in the request's own message in text lines.
    static let inMessage: Set<String> = ["peer", "method", "path", "status", "duration_ms", "error", "client_gone"]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(level: Logger.Level, message: Logger.Message, metadata explicit: Logger.Metadata?, source: String,
             file: String, function: String, line: UInt) {
        let all = metadata.merging(explicit ?? [:]) { $1 }
        switch format {
        case .text:
            var text = "\(RequestLog.timestamp()) \(message)"
            for key in all.keys.sorted() where !Self.inMessage.contains(key) {
                text += " \(key)=\(all[key]!)"
            }
            sink(text)
        case .json:
            var object: [String: Any] = ["time": RequestLog.timestamp(), "level": level.rawValue, "source": source,
                                         "message": message.description]
            for (key, value) in all { object[key] = Self.textKeys.contains(key) ? value.description : Self.jsonValue(value) }
            if let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) {
                sink(String(decoding: data, as: UTF8.self))
            }
        }
    }

    /// Fields that stay strings in JSON even when they look like numbers.
    static let textKeys: Set<String> = ["request_id", "peer", "path", "method", "route", "message"]

    /// Numbers stay numbers in JSON; everything else is a string.
    static func jsonValue(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let s):
            if s.range(of: #"^-?[0-9]+(\.[0-9]+)?$"#, options: .regularExpression) != nil, let number = Double(s) {
                return number == number.rounded() && abs(number) < 1e15 && !s.contains(".") ? Int(number) as Any : number as Any
            }
            return s
        case .stringConvertible(let c):
            if let b = c as? Bool { return b }
            if let i = c as? Int { return i }
            return c.description
        case .array(let values): return values.map(jsonValue)
        case .dictionary(let values): return values.mapValues(jsonValue)
        }
    }
}
