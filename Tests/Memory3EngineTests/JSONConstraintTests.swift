import Foundation
import Memory3Model
@testable import Memory3Engine
import XCTest

/// The JSON automaton behind `response_format: json_object`: every valid document is accepted
/// and complete at its last byte, its proper prefixes are accepted but not complete, and broken
/// documents are refused at the first bad byte.
final class JSONConstraintTests: XCTestCase {
    func scan(_ text: String, objectOnly: Bool = true) -> (accepted: Bool, complete: Bool) {
        var scanner = JSONScanner.start(objectOnly: objectOnly)
        let ok = scanner.feed(Array(text.utf8))
        return (ok, ok && scanner.lex == .done)
    }

    func testValidDocumentsAreAcceptedAndCompleteOnlyAtTheirEnd() {
        for text in [#"{}"#, #"{"a":1}"#, #"{ "a" : [1, -2.5e+3, 0, true, false, null, "x\"y\\u00e9"], "b": {"c": {}} }"#,
                     "{\n  \"k\": \"caf\u{e9}\",\n  \"n\": 0.5E-2\n}", #"{"a":[[],[{}]]}"#] {
            XCTAssertEqual(scan(text).complete, true, text)
            let bytes = Array(text.utf8)
            for cut in 1 ..< bytes.count {
                var scanner = JSONScanner.start(objectOnly: true)
                XCTAssertTrue(scanner.feed(Array(bytes[..<cut])), "prefix \(cut) of \(text)")
                XCTAssertNotEqual(scanner.lex, .done, "prefix \(cut) of \(text)")
            }
        }
    }

    func testBrokenDocumentsAreRefused() {
        for text in [#"[1]"#, #"{"a"}"#, #"{"a":}"#, #"{,}"#, #"{"a":1,}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#,
                     #"{"a":tru}"#, #"{"a":"\x"}"#, #"{"a":"\u12G4"}"#, "{\"a\":\"\u{1}\"}", #"{"a":1]"#, #"{"a":[1}"#,
                     #"{} {}"#, #"{"a":1} x"#, "{" + String(repeating: " ", count: 20) + "}"] {
            XCTAssertFalse(scan(text).complete, text)
        }
        XCTAssertTrue(scan(#"[1, "x"]"#, objectOnly: false).complete, "any value when not restricted to objects")
    }

    func testRandomDocumentsFromJSONSerializationAreAccepted() throws {
        func below(_ bound: Int, _ generator: inout SeededGenerator) -> Int { Int(generator.next() % UInt64(bound)) }
        var generator = SeededGenerator(seed: 7)
        func value(_ depth: Int) -> Any {
            switch below(depth > 3 ? 4 : 6, &generator) {
            case 0: return below(2, &generator) == 0
            case 1: return Double(below(100_000, &generator)) / 7 - 5000
            case 2: return String((0 ..< below(12, &generator)).map { _ in "ab\"\\\n\u{e9}\u{1F30A} {}[],:".randomElement(using: &generator)! })
            case 3: return NSNull()
            case 4: return (0 ..< below(4, &generator)).map { _ in value(depth + 1) }
            default: return Dictionary(uniqueKeysWithValues: (0 ..< below(4, &generator)).map { ("k\($0)", value(depth + 1)) })
            }
        }
        for _ in 0 ..< 200 {
            let object = Dictionary(uniqueKeysWithValues: (0 ..< below(5, &generator)).map { ("key\($0)", value(1)) })
            let data = try JSONSerialization.data(withJSONObject: object, options: below(2, &generator) == 0 ? [] : [.prettyPrinted])
            let text = String(decoding: data, as: UTF8.self)
            // Pretty printing indents deeper than the whitespace-run cap allows; compact those runs.
            let compact = text.replacingOccurrences(of: #"\n +"#, with: "\n ", options: .regularExpression)
            XCTAssertTrue(scan(compact).complete, compact)
        }
    }
}
