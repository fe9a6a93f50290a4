import Tokenizer
import XCTest

/// The real SmolLM2 tokenizer against llama.cpp's ids for ~90 strings (English, whitespace runs,
/// code, numbers, accents, CJK, emoji, RTL scripts, markdown, ChatML control tokens).
final class LlamaAgreementTests: XCTestCase {
    func testEncodeMatchesLlamaCppForEveryFixtureString() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        let cases = try ReferenceFiles.llamaTokenizations()
        XCTAssertGreaterThan(cases.count, 50)
        for entry in cases {
            XCTAssertEqual(
                tokenizer.encode(entry.text, parseSpecial: entry.special), entry.ids,
                "text \(entry.text.debugDescription), special \(entry.special)")
        }
    }

    func testFixtureCoversBothSpecialModes() throws {
        let cases = try ReferenceFiles.llamaTokenizations()
        XCTAssertTrue(cases.contains { $0.special })
        XCTAssertTrue(cases.contains { !$0.special && $0.text.contains("<|im_start|>") })
    }

    func testDecodeOfEncodeIsTheOriginalText() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        for entry in try ReferenceFiles.llamaTokenizations() {
            let ids = tokenizer.encode(entry.text, parseSpecial: entry.special)
            XCTAssertEqual(tokenizer.decode(ids), entry.text, "text \(entry.text.debugDescription)")
        }
    }

    func testDecodeWithoutControlTokensMatchesLlamaCppDetokenize() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        for entry in try ReferenceFiles.llamaTokenizations() {
            let visible = entry.ids.filter { !tokenizer.isControl($0) }
            XCTAssertEqual(tokenizer.decode(visible), entry.detokenized, "text \(entry.text.debugDescription)")
        }
    }

    func testSmolLMVocabularyFacts() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        XCTAssertEqual(tokenizer.vocabularySize, 49152)
        XCTAssertEqual(tokenizer.preTokenizer, .smollm)
        XCTAssertEqual(tokenizer.eosTokenId, 2)
        XCTAssertEqual(tokenizer.bosTokenId, 1)
        XCTAssertFalse(tokenizer.addsBOS)
        XCTAssertEqual(tokenizer.id(of: "<|endoftext|>"), 0)
        XCTAssertEqual(tokenizer.id(of: "<|im_start|>"), 1)
        XCTAssertEqual(tokenizer.id(of: "<|im_end|>"), 2)
        XCTAssertEqual(tokenizer.endOfGenerationIds, [0, 2])
        XCTAssertEqual((0...16).filter(tokenizer.isControl), Array(0...16))
        XCTAssertFalse(tokenizer.isControl(17))
        XCTAssertEqual(tokenizer.tokenBytes(2), Array("<|im_end|>".utf8))
        XCTAssertEqual(tokenizer.tokenBytes(tokenizer.id(of: "Ġthe")!), Array(" the".utf8))
        XCTAssertEqual(tokenizer.tokenBytes(-1), [])
        XCTAssertEqual(tokenizer.tokenBytes(49152), [])
    }

    func testBytesWithoutATokenAreDroppedLikeLlamaCpp() throws {
        // SmolLM2's vocabulary has no token for the bytes 04 06 13 14 16 1D F1 F2 (nor for
        // C0 C1 F5-FF, which UTF-8 never uses); llama.cpp silently drops them, so we do too and
        // decode(encode(s)) == s holds only for text without them. Ids checked with llama.cpp.
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        XCTAssertEqual(tokenizer.encode("a\u{04}b"), [81, 82])
        XCTAssertEqual(tokenizer.encode("ab\u{1D}"), [369])
        XCTAssertEqual(tokenizer.encode("x\u{40000}y"), [104, 218, 218, 218, 105])
        var bytesWithToken = Set<UInt8>()
        for id in 0..<tokenizer.vocabularySize where !tokenizer.isControl(id) {
            let bytes = tokenizer.tokenBytes(id)
            if bytes.count == 1 { bytesWithToken.insert(bytes[0]) }
        }
        let missing = (0...255).map(UInt8.init).filter { !bytesWithToken.contains($0) }
        XCTAssertEqual(missing, [0x04, 0x06, 0x13, 0x14, 0x16, 0x1D, 0xC0, 0xC1, 0xF1, 0xF2] + Array(0xF5...0xFF))
    }
}
