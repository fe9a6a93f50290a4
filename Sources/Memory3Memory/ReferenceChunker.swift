import Tokenizer

/// Cuts a document into references of at most `maxReferenceTokens` tokens, counted with the
/// model's tokenizer (special tokens not parsed). Cuts fall at paragraph boundaries first, then
/// sentence, then word boundaries, and only inside a word longer than a whole reference at a
/// UTF-8 scalar boundary. Consecutive paragraphs (or sentences, or words) are packed greedily.
///
/// Markdown sections (ATX headings outside code fences) always start a new reference, and every
/// reference of a section after its first carries the section's heading line in front (cut to
/// `maxHeadingTokens`), so that each reference says what it is about.
///
/// Deterministic; references are never empty; the contents, in order, cover all of the input
/// except the whitespace between them.
public struct ReferenceChunker: Sendable {
    public let tokenizer: Tokenizer
    public let maxReferenceTokens: Int
    public let maxHeadingTokens: Int

    public static let defaultMaxReferenceTokens = 128
    public static let minimumReferenceTokens = 8

    public init(tokenizer: Tokenizer, maxReferenceTokens: Int = ReferenceChunker.defaultMaxReferenceTokens,
                maxHeadingTokens: Int? = nil) {
        precondition(maxReferenceTokens >= Self.minimumReferenceTokens, "references need room for at least \(Self.minimumReferenceTokens) tokens")
        self.tokenizer = tokenizer
        self.maxReferenceTokens = maxReferenceTokens
        self.maxHeadingTokens = min(maxHeadingTokens ?? 24, maxReferenceTokens / 4)
    }

    public func chunk(_ text: String, format: TextFormat = .markdown) -> [ReferenceChunk] {
        var run = Run(chunker: self, bytes: Array(text.utf8))
        for section in TextSegmentation.sections(run.bytes, markdown: format == .markdown) {
            run.chunk(section: section)
        }
        return run.output
    }

    public func tokenCount(_ text: String) -> Int { tokenizer.encode(text, parseSpecial: false, addBOS: false).count }

    /// The heading cut to at most `maxHeadingTokens` tokens at word boundaries (a single word
    /// that is too long is dropped: no heading is better than half a word).
    func shortHeading(_ heading: String) -> String? {
        if tokenCount(heading) <= maxHeadingTokens { return heading }
        var kept = ""
        for word in heading.split(separator: " ", omittingEmptySubsequences: true) {
            let candidate = kept.isEmpty ? String(word) : kept + " " + word
            if tokenCount(candidate) > maxHeadingTokens { break }
            kept = candidate
        }
        return kept.isEmpty ? nil : kept
    }

    /// The state of one `chunk` call.
    private struct Run {
        let chunker: ReferenceChunker
        let bytes: [UInt8]
        var output: [ReferenceChunk] = []
        /// The current section's carried heading (cut short).
        var heading: String? = nil
        /// The section's heading lines, when they are glued to its first body unit: a reference
        /// starting at `firstBodyStart` then starts at `headingStart` instead, and needs no
        /// carried heading.
        var headingStart = -1
        var firstBodyStart = -1
        /// Where the heading line starts when it is a paragraph of its own (too long to glue).
        var unattachedHeadingStart = -1

        init(chunker: ReferenceChunker, bytes: [UInt8]) {
            self.chunker = chunker
            self.bytes = bytes
        }

        var budget: Int { chunker.maxReferenceTokens }

        mutating func chunk(section: TextSegmentation.Section) {
            heading = section.heading.flatMap(chunker.shortHeading)
            headingStart = -1
            firstBodyStart = -1
            unattachedHeadingStart = -1
            let body = TextSegmentation.paragraphs(bytes, section.bodyStart ..< section.range.upperBound)
            if section.heading != nil, let first = body.first,
               chunker.tokenCount(string(section.range.lowerBound ..< section.bodyStart)) <= chunker.maxHeadingTokens {
                // Short heading lines travel with the first body unit.
                headingStart = section.range.lowerBound
                firstBodyStart = first.lowerBound
                pack(body, level: 0)
            } else {
                // A long heading is a paragraph of its own; a heading with no body is just text.
                unattachedHeadingStart = TextSegmentation.trimmed(bytes, section.range)?.lowerBound ?? -1
                pack(TextSegmentation.paragraphs(bytes, section.range), level: 0)
            }
        }

        func string(_ range: Range<Int>) -> String { String(decoding: bytes[range], as: UTF8.self) }

        /// Where a reference whose first unit starts at `unitStart` begins.
        func spanStart(_ unitStart: Int) -> Int { unitStart == firstBodyStart ? headingStart : unitStart }

        /// The carried heading for a reference whose first unit starts at `unitStart`: none for
        /// the section's first reference (it holds the heading lines themselves).
        func prefix(at unitStart: Int) -> String? {
            guard let h = heading, unitStart != firstBodyStart, unitStart != unattachedHeadingStart else { return nil }
            return h
        }

        func compose(_ prefix: String?, _ range: Range<Int>) -> String {
            prefix.map { $0 + "\n" + string(range) } ?? string(range)
        }

        /// Exact tokens of the reference covering `range` with the prefix it would carry.
        func exactCount(_ range: Range<Int>, prefix: String?) -> Int {
            chunker.tokenCount(compose(prefix, range))
        }

        /// The reference's span for units from `start` to `end`.
        func span(_ start: Int, _ end: Int) -> Range<Int> { spanStart(start) ..< end }

        /// Packs `units` (ranges at one level: 0 paragraphs, 1 sentences, 2 words) greedily.
        mutating func pack(_ units: [Range<Int>], level: Int) {
            guard !units.isEmpty else { return }
            // Each unit's tokens with the whitespace before it: BPE pre-tokenization splits at
            // whitespace, so these add up to (nearly) the tokens of a span; the exact count of
            // every emitted reference is checked.
            var gapped: [Int] = []
            gapped.reserveCapacity(units.count)
            for (k, u) in units.enumerated() {
                let from = k == 0 ? u.lowerBound : units[k - 1].upperBound
                gapped.append(chunker.tokenCount(string(from ..< u.upperBound)))
            }
            var i = 0
            while i < units.count {
                let p = prefix(at: units[i].lowerBound)
                let alone = exactCount(span(units[i].lowerBound, units[i].upperBound), prefix: p)  // (cheap: a unit that fits is short)
                if alone > budget {
                    // Too long alone: cut it at the next finer level (paragraph -> sentences ->
                    // words -> inside the word).
                    if level == 2 {
                        hardCut(units[i])
                    } else {
                        let finer = level == 0 ? TextSegmentation.sentences(bytes, units[i])
                                               : TextSegmentation.words(bytes, units[i])
                        if finer.count > 1 || level == 1 {
                            pack(finer, level: level + 1)
                        } else {
                            pack(TextSegmentation.words(bytes, units[i]), level: 2)
                        }
                    }
                    i += 1
                    continue
                }
                var estimate = alone
                var j = i + 1
                while j < units.count && estimate + gapped[j] <= budget {
                    estimate += gapped[j]
                    j += 1
                }
                var count = exactCount(span(units[i].lowerBound, units[j - 1].upperBound), prefix: p)
                while count > budget && j > i + 1 {
                    j -= 1
                    count = exactCount(span(units[i].lowerBound, units[j - 1].upperBound), prefix: p)
                }
                emit(span(units[i].lowerBound, units[j - 1].upperBound), prefix: p, tokens: count)
                i = j
            }
        }

        /// A word longer than a reference: the longest scalar-aligned pieces that fit, each
        /// found by binary search within a window of `32 * budget` bytes (a token longer than
        /// 32 bytes is rare; a window that fits whole is emitted whole).
        mutating func hardCut(_ range: Range<Int>) {
            var start = range.lowerBound
            while start < range.upperBound {
                var p = prefix(at: start)
                let from = spanStart(start)
                let window = start ..< min(range.upperBound, start + 32 * budget)
                let ends = TextSegmentation.scalarBoundaries(bytes, window)
                if exactCount(from ..< ends[0], prefix: p) > budget { p = nil }
                // The last end that fits (the first always does: one scalar is at most 4 byte
                // tokens, and a glued heading at most a quarter of the budget).
                var low = 0, high = ends.count - 1
                while low < high {
                    let mid = (low + high + 1) / 2
                    if exactCount(from ..< ends[mid], prefix: p) <= budget { low = mid } else { high = mid - 1 }
                }
                let end = ends[low]
                emit(from ..< end, prefix: p, tokens: exactCount(from ..< end, prefix: p))
                start = end
            }
        }

        mutating func emit(_ range: Range<Int>, prefix: String?, tokens: Int) {
            guard let r = TextSegmentation.trimmed(bytes, range) else { return }
            let content = string(r)
            output.append(ReferenceChunk(
                ordinal: output.count, text: prefix.map { $0 + "\n" + content } ?? content, content: content,
                heading: prefix, tokenCount: r == range ? tokens : exactCount(r, prefix: prefix), byteRange: r))
        }
    }
}
