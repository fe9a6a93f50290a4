/// Boundaries in UTF-8 text, found on bytes: every separator the chunker cuts at is ASCII, and
/// an ASCII byte never occurs inside a multi-byte UTF-8 sequence, so every range starts and ends
/// on a scalar boundary. Ranges are trimmed of surrounding whitespace and never empty.
enum TextSegmentation {
    /// A Markdown section: from its first heading line (if any) to the next section.
    struct Section: Equatable {
        var range: Range<Int>
        /// The innermost heading line of the section (the last of a run of headings with no text
        /// between them), trimmed; nil for text before the first heading and for plain text.
        var heading: String?
        /// Where the section's heading lines end and its body begins (`range.lowerBound` when
        /// there is no heading).
        var bodyStart: Int
    }

    @inline(__always)
    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    /// Trims whitespace; nil when nothing is left.
    static func trimmed(_ bytes: [UInt8], _ range: Range<Int>) -> Range<Int>? {
        var a = range.lowerBound, b = range.upperBound
        while a < b && isSpace(bytes[a]) { a += 1 }
        while b > a && isSpace(bytes[b - 1]) { b -= 1 }
        return a < b ? a ..< b : nil
    }

    /// Lines as (start, end without the newline).
    static func lines(_ bytes: [UInt8], _ range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = range.lowerBound
        for i in range where bytes[i] == 0x0A {
            result.append(start ..< i)
            start = i + 1
        }
        if start < range.upperBound { result.append(start ..< range.upperBound) }
        return result
    }

    /// An ATX heading: up to 3 spaces, 1-6 '#', then a space or the end of the line.
    static func isHeading(_ bytes: [UInt8], _ line: Range<Int>) -> Bool {
        var i = line.lowerBound
        var indent = 0
        while i < line.upperBound && bytes[i] == 0x20 && indent < 4 { i += 1; indent += 1 }
        guard indent <= 3 else { return false }
        var hashes = 0
        while i < line.upperBound && bytes[i] == 0x23 { i += 1; hashes += 1 }
        guard hashes >= 1 && hashes <= 6 else { return false }
        return i == line.upperBound || bytes[i] == 0x20 || bytes[i] == 0x09
    }

    /// A code fence line: up to 3 spaces then ``` or ~~~.
    static func isFence(_ bytes: [UInt8], _ line: Range<Int>) -> Bool {
        var i = line.lowerBound
        while i < line.upperBound && bytes[i] == 0x20 && i - line.lowerBound < 3 { i += 1 }
        guard line.upperBound - i >= 3 else { return false }
        let c = bytes[i]
        return (c == 0x60 || c == 0x7E) && bytes[i + 1] == c && bytes[i + 2] == c
    }

    /// Markdown sections split at ATX headings outside fenced code. A heading followed only by
    /// more headings joins the next section (its text is kept; the innermost heading is carried).
    static func sections(_ bytes: [UInt8], markdown: Bool) -> [Section] {
        let all = 0 ..< bytes.count
        guard markdown else { return [Section(range: all, heading: nil, bodyStart: 0)] }
        var starts: [(start: Int, heading: String)] = []
        var inFence = false
        for line in lines(bytes, all) {
            if isFence(bytes, line) { inFence.toggle(); continue }
            if !inFence && isHeading(bytes, line), let t = trimmed(bytes, line) {
                starts.append((line.lowerBound, String(decoding: bytes[t], as: UTF8.self)))
            }
        }
        var sections: [Section] = []
        if let first = starts.first?.start, first > 0 { sections.append(Section(range: 0 ..< first, heading: nil, bodyStart: 0)) }
        if starts.isEmpty { sections.append(Section(range: all, heading: nil, bodyStart: 0)) }
        for (k, s) in starts.enumerated() {
            let end = k + 1 < starts.count ? starts[k + 1].start : bytes.count
            var lineEnd = s.start
            while lineEnd < end && bytes[lineEnd] != 0x0A { lineEnd += 1 }
            sections.append(Section(range: s.start ..< end, heading: s.heading, bodyStart: lineEnd))
        }
        // Merge heading-only sections into the section that follows.
        var merged: [Section] = []
        var pendingStart: Int? = nil
        for s in sections {
            let body = s.bodyStart ..< s.range.upperBound
            if s.heading != nil && trimmed(bytes, body) == nil && s.range.upperBound < bytes.count {
                pendingStart = pendingStart ?? s.range.lowerBound
                continue
            }
            var section = s
            if let p = pendingStart { section.range = p ..< s.range.upperBound; pendingStart = nil }
            if trimmed(bytes, section.range) != nil { merged.append(section) }
        }
        return merged
    }

    /// Paragraphs: blocks separated by blank lines.
    static func paragraphs(_ bytes: [UInt8], _ range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = range.lowerBound
        var i = range.lowerBound
        while i < range.upperBound {
            guard bytes[i] == 0x0A else { i += 1; continue }
            // A newline followed by whitespace containing another newline ends a paragraph.
            var j = i + 1
            var newlines = 1
            while j < range.upperBound && isSpace(bytes[j]) {
                if bytes[j] == 0x0A { newlines += 1 }
                j += 1
            }
            if newlines >= 2 {
                if let t = trimmed(bytes, start ..< i) { result.append(t) }
                start = j
            }
            i = j
        }
        if let t = trimmed(bytes, start ..< range.upperBound) { result.append(t) }
        return result
    }

    /// Sentences: cut after . ! ? (and the CJK full stops), with any closing quotes or
    /// brackets, when whitespace follows; and at every line break.
    static func sentences(_ bytes: [UInt8], _ range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var start = range.lowerBound
        var i = range.lowerBound
        func cut(at end: Int) {
            if let t = trimmed(bytes, start ..< end) { result.append(t) }
            start = end
        }
        while i < range.upperBound {
            let b = bytes[i]
            if b == 0x0A {
                cut(at: i)
                i += 1
                continue
            }
            var end: Int? = nil
            if b == 0x2E || b == 0x21 || b == 0x3F {
                end = i + 1
            } else if b == 0xE3, i + 2 < range.upperBound, bytes[i + 1] == 0x80, bytes[i + 2] == 0x82 {
                end = i + 3  // 。
            } else if b == 0xEF, i + 2 < range.upperBound, bytes[i + 1] == 0xBC, bytes[i + 2] == 0x81 || bytes[i + 2] == 0x9F {
                end = i + 3  // ！ ？
            }
            guard var e = end else { i += 1; continue }
            // Closing quotes and brackets stay with the sentence.
            while e < range.upperBound, [0x22, 0x27, 0x29, 0x5D, 0x7D].contains(bytes[e]) { e += 1 }
            let cjk = b >= 0x80
            if cjk || e == range.upperBound || isSpace(bytes[e]) { cut(at: e) }
            i = e
        }
        cut(at: range.upperBound)
        return result
    }

    /// Words: maximal runs of non-whitespace.
    static func words(_ bytes: [UInt8], _ range: Range<Int>) -> [Range<Int>] {
        var result: [Range<Int>] = []
        var i = range.lowerBound
        while i < range.upperBound {
            while i < range.upperBound && isSpace(bytes[i]) { i += 1 }
            let start = i
            while i < range.upperBound && !isSpace(bytes[i]) { i += 1 }
            if i > start { result.append(start ..< i) }
        }
        return result
    }

    /// Offsets in `range` where a UTF-8 scalar starts (not a continuation byte), after the first.
    static func scalarBoundaries(_ bytes: [UInt8], _ range: Range<Int>) -> [Int] {
        var result: [Int] = []
        for i in range.dropFirst() where bytes[i] & 0xC0 != 0x80 { result.append(i) }
        result.append(range.upperBound)
        return result
    }
}
