/// Server-Sent Events framing (`data: ...` lines, a blank line after each event).
public enum ServerSentEvents {
    public static let headers = HTTPHeaders([
        ("Content-Type", "text/event-stream"),
        ("Cache-Control", "no-cache"),
        ("X-Accel-Buffering", "no"),
    ])

    /// One event whose data is `data` (split on newlines into several data lines).
    public static func event(_ data: String) -> [UInt8] {
        var out = ""
        for line in data.split(separator: "\n", omittingEmptySubsequences: false) {
            out += "data: \(line)\n"
        }
        out += "\n"
        return Array(out.utf8)
    }
}
