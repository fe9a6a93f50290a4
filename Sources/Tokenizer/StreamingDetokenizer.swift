/// Turns generated tokens into text as they arrive. A token can end in the middle of a UTF-8
/// sequence (emoji and CJK characters are often split across two or three byte tokens), so the
/// bytes of an unfinished character are held back until the tokens that complete it arrive.
/// The concatenation of everything returned equals `tokenizer.decode(ids)`.
public struct StreamingDetokenizer: Sendable {
    private let tokenizer: Tokenizer
    private var pending: [UInt8] = []

    public init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
    }

    /// Adds one token and returns the text it completes (possibly empty).
    public mutating func append(_ id: Int) -> String {
        pending.append(contentsOf: tokenizer.tokenBytes(id))
        let ready = UTF8Boundary.completePrefixLength(of: pending)
        guard ready > 0 else { return "" }
        let text = String(decoding: pending[..<ready], as: UTF8.self)
        pending.removeFirst(ready)
        return text
    }

    /// Returns whatever is still held back; bytes that never became a character are U+FFFD.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }
}

/// Where a byte stream can be cut without splitting a UTF-8 character that may still complete.
enum UTF8Boundary {
    /// The length of the longest prefix of `bytes` that can be decoded now: everything except a
    /// trailing sequence that is valid so far but incomplete. Cutting before a lead byte never
    /// changes how the bytes before it decode (invalid bytes included), so the pieces decode to
    /// the same text as the whole.
    static func completePrefixLength(of bytes: [UInt8]) -> Int {
        let count = bytes.count
        // A sequence is at most 4 bytes, so an unfinished one starts within the last 3.
        var start = count - 1
        while start >= 0 && start >= count - 3 {
            if !isContinuation(bytes[start]) { break }
            start -= 1
        }
        guard start >= 0, start >= count - 3 else { return count }
        let lead = bytes[start]
        let needed: Int
        switch lead {
        case 0xC2...0xDF: needed = 2
        case 0xE0...0xEF: needed = 3
        case 0xF0...0xF4: needed = 4
        default: return count
        }
        let have = count - start
        guard have < needed else { return count }
        if have >= 2 && !secondByteRange(lead).contains(bytes[start + 1]) { return count }
        // Later continuation bytes are already checked by `isContinuation` above.
        return start
    }

    private static func isContinuation(_ byte: UInt8) -> Bool { byte & 0xC0 == 0x80 }

    /// The second bytes that keep a sequence valid (no overlongs, surrogates, or > U+10FFFF).
    private static func secondByteRange(_ lead: UInt8) -> ClosedRange<UInt8> {
        switch lead {
        case 0xE0: return 0xA0...0xBF
        case 0xED: return 0x80...0x9F
        case 0xF0: return 0x90...0xBF
        case 0xF4: return 0x80...0x8F
        default: return 0x80...0xBF
        }
    }
}
