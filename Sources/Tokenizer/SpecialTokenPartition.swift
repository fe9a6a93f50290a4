/// A piece of input text after special tokens were cut out: either plain text (a byte range of
/// the input) or one special token.
enum TextFragment: Equatable {
    case text(Range<Int>)
    case token(Int)
}

/// Cuts special-token texts out of the input before pre-tokenization, the way llama.cpp's
/// `tokenizer_st_partition` does: tokens are tried longest text first, each one splitting every
/// plain-text fragment left so far at all its (non-overlapping, leftmost-first) occurrences.
/// Control and unknown tokens take part only when special parsing is on; user-defined tokens
/// always do.
struct SpecialTokenPartition: Sendable {
    struct Candidate: Sendable {
        let id: Int
        let bytes: [UInt8]
        let onlyWhenParsingSpecial: Bool
    }

    /// Longest first; equal lengths by id, so the order is deterministic.
    let candidates: [Candidate]

    init(candidates: [Candidate]) {
        self.candidates = candidates.filter { !$0.bytes.isEmpty }.sorted {
            $0.bytes.count != $1.bytes.count ? $0.bytes.count > $1.bytes.count : $0.id < $1.id
        }
    }

    func partition(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [TextFragment] {
        var fragments: [TextFragment] = bytes.isEmpty ? [] : [.text(0..<bytes.count)]
        for candidate in candidates where parseSpecial || !candidate.onlyWhenParsingSpecial {
            guard fragments.contains(where: { if case .text = $0 { return true } else { return false } }) else { break }
            var split: [TextFragment] = []
            split.reserveCapacity(fragments.count)
            for fragment in fragments {
                guard case .text(let range) = fragment else {
                    split.append(fragment)
                    continue
                }
                var start = range.lowerBound
                while let match = Self.find(candidate.bytes, in: bytes, range: start..<range.upperBound) {
                    if start < match { split.append(.text(start..<match)) }
                    split.append(.token(candidate.id))
                    start = match + candidate.bytes.count
                }
                if start < range.upperBound { split.append(.text(start..<range.upperBound)) }
            }
            fragments = split
        }
        return fragments
    }

    /// The first position in `range` where `needle` starts, if it fits inside `range`.
    private static func find(_ needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>, range: Range<Int>) -> Int? {
        let first = needle[0]
        let lastStart = range.upperBound - needle.count
        guard lastStart >= range.lowerBound else { return nil }
        var i = range.lowerBound
        while i <= lastStart {
            if haystack[i] == first {
                var k = 1
                while k < needle.count && haystack[i + k] == needle[k] { k += 1 }
                if k == needle.count { return i }
            }
            i += 1
        }
        return nil
    }
}
