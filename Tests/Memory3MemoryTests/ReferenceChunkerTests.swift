import Memory3Memory
import Tokenizer
import XCTest

final class ReferenceChunkerTests: XCTestCase {
    var tokenizer: Tokenizer!

    override func setUpWithError() throws {
        tokenizer = try SmolLM2.load().tokenizer
    }

    static let sentences = [
        "The lighthouse keeper climbed the spiral stairs every evening at dusk.",
        "Ships passing the rocky headland relied on the beam to find the channel between the reefs!",
        "Did the keeper log the weather, the passing vessels and the hours the lamp burned?",
        "In 1874 the station received a new Fresnel lens, ground in Paris (\"the finest in Europe\").",
        "Its light reached twenty miles out to sea on clear nights.",
        "灯塔守护者每天晚上都爬上螺旋楼梯。船只依靠光束找到航道。",
        "Emoji 🌊🌊 and accents — café, naïve, Zürich — are text too.",
    ]

    /// Markdown with headings, long sections, long paragraphs, lists, a code fence, a long word.
    static var sampleMarkdown: String {
        var s = "Preamble before any heading. " + sentences[0] + "\n\n"
        for section in 0 ..< 6 {
            s += "\(String(repeating: "#", count: 1 + section % 3)) Section \(section): the history of light number \(section)\n\n"
            for paragraph in 0 ..< 1 + section {
                let count = 1 + (section * 3 + paragraph * 5) % 14
                s += (0 ..< count).map { sentences[($0 + paragraph) % sentences.count] }.joined(separator: " ") + "\n\n"
            }
            if section == 2 { s += "- item one\n- item two\n- item three\n\n```\n# not a heading\ncode()\n```\n\n" }
            if section == 4 { s += "A word: " + String(repeating: "abcdefghij0123456789", count: 60) + " ends here.\n\n" }
        }
        return s
    }

    func testReferencesNeverExceedTheLimitAndCountTheirOwnTokens() {
        for limit in [128, 48, 16] {
            let chunker = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: limit)
            let chunks = chunker.chunk(Self.sampleMarkdown)
            XCTAssertGreaterThan(chunks.count, 3)
            for c in chunks {
                XCTAssertLessThanOrEqual(c.tokenCount, limit, "limit \(limit): \(c.text)")
                XCTAssertEqual(c.tokenCount, tokenizer.encode(c.text, parseSpecial: false).count)
                XCTAssertFalse(c.content.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
            }
            XCTAssertEqual(chunks.map(\.ordinal), Array(chunks.indices))
        }
    }

    func testContentsCoverAllOfTheInputInOrder() {
        for limit in [128, 24] {
            let text = Self.sampleMarkdown
            let chunks = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: limit).chunk(text)
            let bytes = Array(text.utf8)
            var previousEnd = 0
            for c in chunks {
                XCTAssertGreaterThanOrEqual(c.byteRange.lowerBound, previousEnd)
                XCTAssertTrue(bytes[previousEnd ..< c.byteRange.lowerBound].allSatisfy { [0x20, 0x0A, 0x09, 0x0D].contains($0) },
                              "only whitespace between references")
                XCTAssertEqual(String(decoding: bytes[c.byteRange], as: UTF8.self), c.content)
                previousEnd = c.byteRange.upperBound
            }
            XCTAssertTrue(bytes[previousEnd...].allSatisfy { [0x20, 0x0A, 0x09, 0x0D].contains($0) })
            let squeeze = { (s: String) in s.unicodeScalars.filter { !$0.properties.isWhitespace }.map(String.init).joined() }
            XCTAssertEqual(squeeze(chunks.map(\.content).joined()), squeeze(text))
        }
    }

    func testHeadingsAreCarriedIntoTheLaterReferencesOfTheirSection() {
        let text = "# Fresnel lenses\n\n" + (0 ..< 12).map { _ in Self.sentences[3] }.joined(separator: " ")
            + "\n\n## Keepers\n\n" + (0 ..< 8).map { _ in Self.sentences[0] }.joined(separator: " ") + "\n"
        let chunks = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: 64).chunk(text)
        XCTAssertGreaterThan(chunks.count, 4)
        XCTAssertTrue(chunks[0].text.hasPrefix("# Fresnel lenses\n"))
        XCTAssertNil(chunks[0].heading, "the first reference starts with its heading line")
        var sawSecondSection = false
        for c in chunks.dropFirst() {
            if c.content.hasPrefix("## Keepers") {
                sawSecondSection = true
                XCTAssertNil(c.heading)
                continue
            }
            let expected = sawSecondSection ? "## Keepers" : "# Fresnel lenses"
            XCTAssertEqual(c.heading, expected)
            XCTAssertTrue(c.text.hasPrefix(expected + "\n"), c.text)
            XCTAssertFalse(c.content.contains("#"))
        }
        XCTAssertTrue(sawSecondSection, "a heading starts a new reference")
    }

    func testLongHeadingsAreCutShortWhenCarried() {
        let heading = "# " + (0 ..< 40).map { "word\($0)" }.joined(separator: " ")
        let text = heading + "\n\n" + (0 ..< 10).map { _ in Self.sentences[1] }.joined(separator: " ")
        let chunker = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: 128)
        let chunks = chunker.chunk(text)
        let carried = chunks.compactMap(\.heading)
        XCTAssertFalse(carried.isEmpty)
        for h in carried {
            XCTAssertTrue(heading.hasPrefix(h))
            XCTAssertLessThanOrEqual(tokenizer.encode(h, parseSpecial: false).count, chunker.maxHeadingTokens)
        }
    }

    func testChunkingIsDeterministic() {
        let chunker = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: 40)
        XCTAssertEqual(chunker.chunk(Self.sampleMarkdown), chunker.chunk(Self.sampleMarkdown))
    }

    func testParagraphsThatFitAreNeverSplitAndArePackedTogether() {
        let paragraphs = (0 ..< 6).map { i in Self.sentences[i % 5] }
        let text = paragraphs.joined(separator: "\n\n")
        let chunks = ReferenceChunker(tokenizer: tokenizer).chunk(text, format: .plain)
        XCTAssertEqual(chunks.count, 1, "six short paragraphs fit one 128-token reference")
        XCTAssertEqual(chunks[0].content, text)

        let big = (0 ..< 6).map { i in (0 ..< 4).map { Self.sentences[($0 + i) % 5] }.joined(separator: " ") }
        let bigChunks = ReferenceChunker(tokenizer: tokenizer).chunk(big.joined(separator: "\n\n"), format: .plain)
        for c in bigChunks {
            let whole = c.content.components(separatedBy: "\n\n")
            XCTAssertTrue(whole.allSatisfy { big.contains($0) }, "cuts fall between paragraphs: \(c.content)")
        }
    }

    func testLongParagraphsAreCutAtSentenceEnds() {
        let paragraph = (0 ..< 30).map { Self.sentences[$0 % 5] }.joined(separator: " ")
        let chunks = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: 64).chunk(paragraph, format: .plain)
        XCTAssertGreaterThan(chunks.count, 5)
        for c in chunks {
            XCTAssertTrue(c.content.hasSuffix(".") || c.content.hasSuffix("!") || c.content.hasSuffix("?") || c.content.hasSuffix(".\")"), c.content)
        }
    }

    func testSentencesLongerThanAReferenceAreCutBetweenWords() {
        let sentence = (0 ..< 120).map { "lamp\($0)" }.joined(separator: " ") + "."
        let chunks = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: 32).chunk(sentence, format: .plain)
        XCTAssertGreaterThan(chunks.count, 5)
        let words = Set(sentence.split(separator: " ").map(String.init))
        for c in chunks {
            XCTAssertLessThanOrEqual(c.tokenCount, 32)
            XCTAssertTrue(c.content.split(separator: " ").allSatisfy { words.contains(String($0)) }, "no word is cut: \(c.content)")
        }
    }

    func testWordsLongerThanAReferenceAreCutAtScalarBoundaries() {
        let word = String(repeating: "x7🌊é漢", count: 400)
        let chunks = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: 20).chunk("Before. " + word + " after.", format: .plain)
        XCTAssertGreaterThan(chunks.count, 20)
        for c in chunks {
            XCTAssertLessThanOrEqual(c.tokenCount, 20)
            XCTAssertFalse(c.content.contains("\u{FFFD}"), "a cut split a UTF-8 sequence")
        }
        XCTAssertEqual(chunks.map(\.content).joined().replacingOccurrences(of: " ", with: ""),
                       ("Before. " + word + " after.").replacingOccurrences(of: " ", with: ""))
    }

    func testHashLinesAreHeadingsOnlyInMarkdownOutsideCodeFences() {
        let text = "#hashtag is not a heading\n\n```\n# comment in code\n```\n\n# Real heading\n\nBody text."
        let markdown = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: 16).chunk(text, format: .markdown)
        XCTAssertTrue(markdown.contains { $0.content.hasPrefix("# Real heading") }, "\(markdown.map(\.content))")
        XCTAssertFalse(markdown.contains { $0.content.hasPrefix("# comment") })
        let plain = ReferenceChunker(tokenizer: tokenizer, maxReferenceTokens: 128).chunk(text, format: .plain)
        XCTAssertEqual(plain.count, 1)
        XCTAssertNil(plain[0].heading)
    }

    func testWhitespaceOnlyTextGivesNoReferences() {
        XCTAssertEqual(ReferenceChunker(tokenizer: tokenizer).chunk(" \n\n\t \n"), [])
        // Headings with no text are still text: kept, in one reference.
        let headingsOnly = ReferenceChunker(tokenizer: tokenizer).chunk("# \n\n##\n")
        XCTAssertEqual(headingsOnly.map(\.content), ["# \n\n##"])
    }
}
