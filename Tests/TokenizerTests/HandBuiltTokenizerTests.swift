import Tokenizer
import XCTest

/// Behaviour pinned down on tiny vocabularies built in the test, no model file needed.
final class HandBuiltTokenizerTests: XCTestCase {
    /// Ids: 0 <|end|> (control), 1 <|user|> (user-defined), 2 a, 3 b, 4 c, 5 Ġ (space), 6 1,
    /// 7 2, 8 ab, 9 bc, 10 abc, 11 Ġa, 12 12, 13 <, 14 |, 15 >, 16 e, 17 n, 18 d, 19 u, 20 s, 21 r.
    static let tokens = [
        "<|end|>", "<|user|>", "a", "b", "c", "Ġ", "1", "2", "ab", "bc", "abc", "Ġa", "12",
        "<", "|", ">", "e", "n", "d", "u", "s", "r",
    ]
    static let types = [3, 4] + Array(repeating: 1, count: tokens.count - 2)

    func makeTokenizer(merges: [String], preTokenizer: PreTokenizer = .smollm, addBOS: Bool = false) throws -> Tokenizer {
        try Tokenizer(
            tokens: Self.tokens, tokenTypes: Self.types, merges: merges, preTokenizer: preTokenizer,
            bosTokenId: 0, eosTokenId: 0, addBOS: addBOS)
    }

    func testLowerRankedMergeAppliesFirstEvenWhenItIsFurtherRight() throws {
        // "b c" outranks "a b", so "abc" becomes a + bc, and "a bc" is no merge.
        let tokenizer = try makeTokenizer(merges: ["b c", "a b", "ab c"])
        XCTAssertEqual(tokenizer.encode("abc"), [2, 9])
    }

    func testMergesChainInRankOrder() throws {
        let tokenizer = try makeTokenizer(merges: ["a b", "b c", "ab c"])
        XCTAssertEqual(tokenizer.encode("abc"), [10])
        XCTAssertEqual(tokenizer.encode("ababc"), [8, 10])
    }

    func testEqualPairsMergeLeftmostFirst() throws {
        let tokenizer = try Tokenizer(
            tokens: ["a", "aa"], tokenTypes: [], merges: ["a a"], preTokenizer: .smollm,
            bosTokenId: nil, eosTokenId: 0, addBOS: false)
        XCTAssertEqual(tokenizer.encode("aaa"), [1, 0])
        XCTAssertEqual(tokenizer.encode("aaaaa"), [1, 1, 0])
    }

    func testSpaceJoinsTheFollowingWord() throws {
        let tokenizer = try makeTokenizer(merges: ["Ġ a", "a b"])
        XCTAssertEqual(tokenizer.encode("ab ab"), [8, 11, 3])
    }

    func testSmolLMSplitsEveryDigitAlone() throws {
        let tokenizer = try makeTokenizer(merges: ["1 2"])
        XCTAssertEqual(tokenizer.encode("12"), [6, 7])
        XCTAssertEqual(tokenizer.encode("a12"), [2, 6, 7])
    }

    func testGPT2PreTokenizerKeepsDigitRunsTogether() throws {
        let tokenizer = try makeTokenizer(merges: ["1 2"], preTokenizer: .gpt2)
        XCTAssertEqual(tokenizer.encode("12"), [12])
    }

    func testWordsDoNotMergeAcrossPreTokenizerBoundaries() throws {
        // "a" then "1" then "b": no "ab" although the merge exists.
        let tokenizer = try makeTokenizer(merges: ["a b"])
        XCTAssertEqual(tokenizer.encode("a1b"), [2, 6, 3])
    }

    func testControlTokenTextBecomesOneTokenWhenParsingSpecial() throws {
        let tokenizer = try makeTokenizer(merges: [])
        XCTAssertEqual(tokenizer.encode("a<|end|>b", parseSpecial: true), [2, 0, 3])
    }

    func testControlTokenTextIsPlainTextWithoutSpecialParsing() throws {
        let tokenizer = try makeTokenizer(merges: [])
        XCTAssertEqual(tokenizer.encode("a<|end|>b", parseSpecial: false), [2, 13, 14, 16, 17, 18, 14, 15, 3])
    }

    func testUserDefinedTokensAreMatchedEvenWithoutSpecialParsing() throws {
        let tokenizer = try makeTokenizer(merges: [])
        XCTAssertEqual(tokenizer.encode("a<|user|>", parseSpecial: false), [2, 1])
        XCTAssertEqual(tokenizer.encode("a<|user|>", parseSpecial: true), [2, 1])
    }

    func testLongerSpecialTokensAreCutOutFirst() throws {
        let tokenizer = try Tokenizer(
            tokens: ["<s>", "<s><s>", "a"], tokenTypes: [3, 3, 1], merges: [], preTokenizer: .smollm,
            bosTokenId: nil, eosTokenId: 0, addBOS: false)
        XCTAssertEqual(tokenizer.encode("<s><s><s>a"), [1, 0, 2])
    }

    func testBytesMissingFromTheVocabularyAreDroppedAndBlockMerges() throws {
        // llama.cpp drops a byte it has no token for; the gap it leaves is not merged across.
        let tokenizer = try makeTokenizer(merges: ["a b"])
        XCTAssertEqual(tokenizer.encode("axb"), [2, 3])
        XCTAssertEqual(tokenizer.encode("é"), [])
    }

    func testDecodeRestoresTextIncludingControlTokens() throws {
        let tokenizer = try makeTokenizer(merges: ["a b", "Ġ a"])
        for text in ["ab ab", "a<|end|>b", " 12 abc", "<|user|>"] {
            XCTAssertEqual(tokenizer.decode(tokenizer.encode(text)), text)
        }
        XCTAssertEqual(tokenizer.decode([2, 99, -1, 3]), "ab", "ids outside the vocabulary are skipped")
    }

    func testBOSIsPrependedOnlyWhenTheVocabularyAsksForIt() throws {
        XCTAssertEqual(try makeTokenizer(merges: [], addBOS: true).encode("a"), [0, 2])
        XCTAssertEqual(try makeTokenizer(merges: [], addBOS: false).encode("a"), [2])
        XCTAssertEqual(try makeTokenizer(merges: [], addBOS: true).encode(""), [0])
    }

    func testEmptyTextHasNoTokens() throws {
        XCTAssertEqual(try makeTokenizer(merges: []).encode(""), [])
    }

    func testTokenBytesUndoTheByteLevelMapping() throws {
        let tokenizer = try makeTokenizer(merges: [])
        XCTAssertEqual(tokenizer.tokenBytes(5), [0x20])
        XCTAssertEqual(tokenizer.tokenBytes(11), [0x20, 0x61])
        XCTAssertEqual(tokenizer.tokenBytes(0), Array("<|end|>".utf8))
        XCTAssertTrue(tokenizer.isControl(0))
        XCTAssertFalse(tokenizer.isControl(1))
        XCTAssertEqual(tokenizer.id(of: "Ġa"), 11)
        XCTAssertNil(tokenizer.id(of: "zzz"))
    }

    func testEndOfGenerationIdsIncludeChatMLEndMarkers() throws {
        let tokenizer = try Tokenizer(
            tokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "a"], tokenTypes: [3, 3, 3, 1], merges: [],
            preTokenizer: .smollm, bosTokenId: 1, eosTokenId: 2, addBOS: false)
        XCTAssertEqual(tokenizer.endOfGenerationIds, [0, 2])
    }

    func testInconsistentVocabularyIsRejected() {
        XCTAssertThrowsError(try Tokenizer(
            tokens: ["a", "b"], tokenTypes: [1], merges: [], preTokenizer: .smollm,
            bosTokenId: nil, eosTokenId: 0, addBOS: false)) { error in
            guard case TokenizerError.invalidVocabulary = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try Tokenizer(
            tokens: ["a"], tokenTypes: [], merges: [], preTokenizer: .smollm,
            bosTokenId: nil, eosTokenId: 5, addBOS: false))
        XCTAssertThrowsError(try Tokenizer(
            tokens: ["a"], tokenTypes: [9], merges: [], preTokenizer: .smollm,
            bosTokenId: nil, eosTokenId: 0, addBOS: false))
    }
}
