import Tokenizer
import XCTest

final class StreamingDetokenizerTests: XCTestCase {
    /// Tokens that split UTF-8 characters: 0 <|end|>, then single bytes of "é" (C3 A9) and
    /// "😀" (F0 9F 98 80) as byte-level characters, plus "a".
    func makeByteTokenizer() throws -> Tokenizer {
        try Tokenizer(
            tokens: ["<|end|>", "Ã", "©", "ð", "Ł", "ĺ", "Ģ", "a", "ðŁĺ"], tokenTypes: [3, 1, 1, 1, 1, 1, 1, 1, 1],
            merges: [], preTokenizer: .smollm, bosTokenId: nil, eosTokenId: 0, addBOS: false)
    }

    func testMultiByteCharacterIsHeldBackUntilComplete() throws {
        var stream = StreamingDetokenizer(tokenizer: try makeByteTokenizer())
        XCTAssertEqual(stream.append(7), "a")
        XCTAssertEqual(stream.append(1), "")
        XCTAssertEqual(stream.append(2), "é")
        XCTAssertEqual(stream.append(8), "")
        XCTAssertEqual(stream.append(6), "😀")
        XCTAssertEqual(stream.finish(), "")
    }

    func testControlTokensStreamAsTheirText() throws {
        var stream = StreamingDetokenizer(tokenizer: try makeByteTokenizer())
        XCTAssertEqual(stream.append(0), "<|end|>")
    }

    func testFinishTurnsAnIncompleteTailIntoReplacementCharacter() throws {
        var stream = StreamingDetokenizer(tokenizer: try makeByteTokenizer())
        XCTAssertEqual(stream.append(8), "")
        XCTAssertEqual(stream.finish(), "\u{FFFD}")
        XCTAssertEqual(stream.finish(), "", "finish empties the stream")
    }

    func testInvalidContinuationIsReleasedAtOnce() throws {
        // "Ã" (C3) followed by "a" can never become a character: the C3 is emitted as U+FFFD.
        var stream = StreamingDetokenizer(tokenizer: try makeByteTokenizer())
        XCTAssertEqual(stream.append(1), "")
        XCTAssertEqual(stream.append(7), "\u{FFFD}a")
        XCTAssertEqual(stream.append(2), "\u{FFFD}", "a stray continuation byte")
    }

    func testStreamedTextEqualsDecodeAtEveryPrefixOfTheFixtureStrings() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        var checkedSplitCharacters = 0
        for entry in try ReferenceFiles.llamaTokenizations() {
            let ids = entry.ids
            let full = Array(tokenizer.decode(ids).unicodeScalars)
            var stream = StreamingDetokenizer(tokenizer: tokenizer)
            var streamed = ""
            for k in ids.indices {
                let piece = stream.append(ids[k])
                if piece.isEmpty { checkedSplitCharacters += 1 }
                streamed += piece
                // Never a broken character: what was streamed is a prefix of the whole text.
                let streamedScalars = Array(streamed.unicodeScalars)
                XCTAssertEqual(Array(full.prefix(streamedScalars.count)), streamedScalars, entry.text)
                var flushed = stream
                XCTAssertEqual(streamed + flushed.finish(), tokenizer.decode(Array(ids[...k])), entry.text)
            }
            XCTAssertEqual(streamed + stream.finish(), tokenizer.decode(ids))
        }
        XCTAssertGreaterThan(checkedSplitCharacters, 10, "the fixture should split characters across tokens")
    }
}
