/// Watches streamed text for stop strings. Text that could still turn into a stop string is held
/// back, so a client never sees part of a stop string.
public struct StopSequenceMatcher: Sendable {
    public let stops: [String]
    private var pending = ""

    public init(stops: [String]) {
        self.stops = stops.filter { !$0.isEmpty }
    }

    /// Adds text; returns what can be emitted now and whether a stop string was reached (the
    /// stop string and anything after it are dropped).
    public mutating func feed(_ text: String) -> (emit: String, stopped: Bool) {
        pending += text
        guard !stops.isEmpty else {
            defer { pending = "" }
            return (pending, false)
        }
        var earliest: String.Index?
        for stop in stops {
            if let r = pending.range(of: stop), earliest == nil || r.lowerBound < earliest! {
                earliest = r.lowerBound
            }
        }
        if let cut = earliest {
            let emit = String(pending[..<cut])
            pending = ""
            return (emit, true)
        }
        // Hold back the longest tail that is a prefix of some stop string.
        var held = 0
        let characters = Array(pending)
        for stop in stops {
            let s = Array(stop)
            for length in stride(from: min(s.count - 1, characters.count), to: held, by: -1)
            where Array(characters.suffix(length)) == Array(s.prefix(length)) {
                held = length
                break
            }
        }
        let emit = String(characters.dropLast(held))
        pending = String(characters.suffix(held))
        return (emit, false)
    }

    /// The held-back text, at the end of generation.
    public mutating func flush() -> String {
        defer { pending = "" }
        return pending
    }
}
