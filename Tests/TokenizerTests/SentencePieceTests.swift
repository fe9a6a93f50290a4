import Tokenizer
import XCTest

/// SentencePiece (GGUF `tokenizer.ggml.model = llama`) on a hand-built vocabulary: merges by
/// score, byte fallback, the space prefix, and lookups by bytes.
final class SentencePieceTests: XCTestCase {
    /// <unk> <s> </s>, the 256 byte tokens, then pieces with scores (higher merges first).
    func tokenizer(addSpacePrefix: Bool = false, extra: [(String, Float)] = []) throws -> Tokenizer {
        var tokens = ["<unk>", "<s>", "</s>"]
        var scores: [Float] = [0, 0, 0]
        var types = [2, 3, 3]
        for b in 0 ..< 256 {
            tokens.append(String(format: "<0x%02X>", b))
            scores.append(0)
            types.append(6)
        }
        let pieces: [(String, Float)] = [("\u{2581}", -1), ("a", -2), ("b", -3), ("c", -4), ("ab", -5), ("\u{2581}a", -6),
                                         ("\u{2581}ab", -7), ("abc", -8), ("\u{2581}c", -9)] + extra
        for (piece, score) in pieces {
            tokens.append(piece)
            scores.append(score)
            types.append(1)
        }
        return try Tokenizer(sentencePieceTokens: tokens, scores: scores, tokenTypes: types, addSpacePrefix: addSpacePrefix,
                             bosTokenId: 1, eosTokenId: 2, addBOS: true)
    }

    func id(_ t: Tokenizer, _ piece: String) -> Int { t.id(of: piece)! }

    func testPiecesMergeByScoreAndSpacesBecomeTheMetaSymbol() throws {
        let t = try tokenizer()
        XCTAssertEqual(t.encode("ab ab", addBOS: false), [id(t, "ab"), id(t, "\u{2581}ab")])
        XCTAssertEqual(t.encode("abc", addBOS: false), [id(t, "abc")])
        XCTAssertEqual(t.encode("ab ab"), [1, id(t, "ab"), id(t, "\u{2581}ab")], "BOS first when the vocabulary asks")
        XCTAssertEqual(t.decode(t.encode("ab ab c", addBOS: false)), "ab ab c")
    }

    func testASpacePrefixGoesBeforeTextAtTheStartAndAfterSpecialTokens() throws {
        let t = try tokenizer(addSpacePrefix: true)
        XCTAssertEqual(t.encode("ab", addBOS: false), [id(t, "\u{2581}ab")])
        XCTAssertEqual(t.encode("ab</s>ab", addBOS: false), [id(t, "\u{2581}ab"), 2, id(t, "\u{2581}ab")])
    }

    func testCharactersWithoutATokenFallBackToTheirBytes() throws {
        let t = try tokenizer()
        // é is C3 A9 in UTF-8; neither it nor a merge with it is a token.
        XCTAssertEqual(t.encode("a\u{e9}", addBOS: false), [id(t, "a"), 3 + 0xC3, 3 + 0xA9])
        XCTAssertEqual(t.decode(t.encode("a\u{e9}b", addBOS: false)), "a\u{e9}b")
        XCTAssertEqual(t.tokenBytes(3 + 0x41), [0x41])
    }

    func testCanonicallyEqualPiecesAreDifferentTokens() throws {
        // U+003B SEMICOLON and U+037E GREEK QUESTION MARK are canonically equivalent: equal as Swift
        // Strings, different bytes and different tokens in a vocabulary (Gemma has both).
        let t = try tokenizer(extra: [(";", -10), ("\u{37E}", -11)])
        XCTAssertNotEqual(t.id(of: ";"), t.id(of: "\u{37E}"))
        XCTAssertEqual(t.encode(";", addBOS: false), [id(t, ";")])
        XCTAssertEqual(t.encode("\u{37E}", addBOS: false), [id(t, "\u{37E}")])
    }

    func testAScoreListOfTheWrongLengthIsRefused() {
        XCTAssertThrowsError(try Tokenizer(sentencePieceTokens: ["a", "b"], scores: [0], tokenTypes: [], addSpacePrefix: false,
                                           bosTokenId: nil, eosTokenId: 0, addBOS: false))
    }
}
