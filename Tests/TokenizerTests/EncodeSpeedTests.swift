import Foundation
import GGUF
import Tokenizer
import XCTest

/// Encoding must keep up with prompt sizes of a chat server: ~10 KB in well under 50 ms in a
/// release build. The bound asserted here is looser because tests share a busy machine.
final class EncodeSpeedTests: XCTestCase {
    func testEncodingTenKilobytesIsFast() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        let paragraphs = try ReferenceFiles.llamaTokenizations().map(\.text)
        var text = ""
        while text.utf8.count < 10_000 { text += paragraphs.joined(separator: "\n") }
        text = String(decoding: Array(text.utf8.prefix(10_240)), as: UTF8.self)

        _ = tokenizer.encode(text)
        var best = Double.infinity
        var ids: [Int] = []
        for _ in 0..<5 {
            let start = DispatchTime.now().uptimeNanoseconds
            ids = tokenizer.encode(text)
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
        }
        print("encode: \(text.utf8.count) bytes -> \(ids.count) tokens in \(String(format: "%.2f", best)) ms")
        XCTAssertEqual(tokenizer.decode(ids), text)
        XCTAssertLessThan(best, 200)
    }

    func testOneLongWordOfCJKDoesNotGoQuadratic() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        let text = String(repeating: "你好世界今天天气很好", count: 1000)  // one 30 KB pre-tokenizer word
        let start = DispatchTime.now().uptimeNanoseconds
        let ids = tokenizer.encode(text)
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        print("encode: one \(text.utf8.count)-byte word -> \(ids.count) tokens in \(String(format: "%.2f", elapsed)) ms")
        XCTAssertEqual(tokenizer.decode(ids), text)
        XCTAssertLessThan(elapsed, 1000)
    }

    func testLoadingTheVocabularyFromTheModelFileIsQuick() throws {
        _ = try ReferenceFiles.smolLMTokenizer()  // skips when the model is missing
        let start = DispatchTime.now().uptimeNanoseconds
        let tokenizer = try Tokenizer(gguf: GGUFFile(path: ReferenceFiles.modelPath))
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
        print("load: \(tokenizer.vocabularySize) tokens in \(String(format: "%.1f", elapsed)) ms")
        XCTAssertLessThan(elapsed, 2000)
    }
}
