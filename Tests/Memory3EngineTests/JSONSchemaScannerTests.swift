import Foundation
@testable import Memory3Engine
import XCTest

/// The schema automaton behind `response_format: json_schema` and tool calls: instances are
/// accepted and complete at their last byte, values that break the schema are refused, schema
/// features it cannot enforce are refused by name, and the completion cost is what finishing takes.
final class JSONSchemaScannerTests: XCTestCase {
    func schema(_ json: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(json.utf8))
    }

    func grammar(_ json: String) throws -> JSONSchemaGrammar {
        try JSONSchemaGrammar.schema(schema(json))
    }

    func scan(_ grammar: JSONSchemaGrammar, _ text: String) -> (accepted: Bool, complete: Bool) {
        var scanner = JSONSchemaScanner(grammar: grammar)
        let ok = scanner.feed(Array(text.utf8))
        return (ok, ok && scanner.canEnd)
    }

    let person = """
        {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"},
         "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 2},
         "nick": {"anyOf": [{"type": "string"}, {"type": "null"}]}, "ok": {"type": "boolean"}},
         "required": ["name", "age", "tags"], "additionalProperties": false}
        """

    func testInstancesAreAcceptedAndCompleteOnlyAtTheirEnd() throws {
        let g = try grammar(person)
        for text in [#"{"name": "Ann", "age": 31, "tags": ["a"]}"#, #"{"name":"","age":-4,"tags":["b","a"],"nick":null}"#,
                     #"{"name": "Zo\u00e9", "age": 0, "tags": ["a"], "nick": "z", "ok": true}"#, #"{"name":"caf"# + "\u{e9}" + #"","age":1,"tags":["a"],"ok":false}"#] {
            XCTAssertEqual(scan(g, text).complete, true, text)
            let bytes = Array(text.utf8)
            for cut in 1 ..< bytes.count {
                var scanner = JSONSchemaScanner(grammar: g)
                XCTAssertTrue(scanner.feed(Array(bytes[..<cut])), "prefix \(cut) of \(text)")
                XCTAssertFalse(scanner.isComplete, "prefix \(cut) of \(text)")
            }
        }
    }

    func testValuesThatBreakTheSchemaAreRefused() throws {
        let g = try grammar(person)
        for text in [#"{"age": 31, "name": "Ann", "tags": ["a"]}"#, #"{"name": "Ann", "age": 31}"#, #"{"name": "Ann", "age": 3.5, "tags": ["a"]}"#,
                     #"{"name": "Annabelle!", "age": 1, "tags": ["a"]}"#, #"{"name": "A", "age": 1, "tags": []}"#,
                     #"{"name": "A", "age": 1, "tags": ["a", "b", "a"]}"#, #"{"name": "A", "age": 1, "tags": ["c"]}"#,
                     #"{"name": "A", "age": 1, "tags": ["a"], "extra": 1}"#, #"{"name": "A", "age": 1, "tags": ["a"]} "#,
                     #"{"name": 5, "age": 1, "tags": ["a"]}"#, #"{"name": "A", "age": 1, "tags": ["a"], "ok": "yes"}"#] {
            XCTAssertFalse(scan(g, text).complete, text)
        }
    }

    func testUnsupportedKeywordsAreRefusedWithTheirPath() throws {
        for (json, fragment) in [(#"{"type": "string", "pattern": "^a$"}"#, "pattern"),
                                 (#"{"type": "object", "properties": {"d": {"type": "string", "format": "date"}}}"#, "schema.properties.d"),
                                 (#"{"anyOf": [{"type": "object"}, {"type": "object", "properties": {}}]}"#, "begin alike"),
                                 (#"{"type": "integer", "minimum": 0}"#, "minimum"),
                                 (#"{"enum": [1, 10]}"#, "begins another"),
                                 (##"{"$ref": "#/$defs/n", "$defs": {"n": {"type": "object", "properties": {"n": {"$ref": "#/$defs/n"}}, "required": ["n"]}}}"##, "no finite instance")] {
            XCTAssertThrowsError(try grammar(json), json) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error) should name \(fragment)")
            }
        }
    }

    func testReferencesAndRecursionCompile() throws {
        let g = try grammar(##"{"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["v", "next"]}}, "$ref": "#/$defs/node"}"##)
        XCTAssertTrue(scan(g, #"{"v": 1, "next": {"v": 2, "next": null}}"#).complete)
        XCTAssertFalse(scan(g, #"{"v": 1, "next": {"v": 2}}"#).complete)
    }

    func testCompletionCostIsTheShortestFinish() throws {
        let g = try grammar(person)
        var scanner = JSONSchemaScanner(grammar: g)
        let shortest = #"{"name":"","age":0,"tags":["a"]}"#
        XCTAssertEqual(scanner.completionCost, shortest.utf8.count)
        for (i, byte) in Array(shortest.utf8).enumerated() {
            XCTAssertTrue(scanner.feed(byte))
            XCTAssertEqual(scanner.completionCost, shortest.utf8.count - i - 1, "after \(i + 1) bytes")
        }
        XCTAssertTrue(scanner.isComplete)
    }

    func testToolCallsNameOneToolAndMeetItsParameters() throws {
        let g = try JSONSchemaGrammar.toolCall([
            (name: "get_weather", parameters: schema(#"{"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}"#)),
            (name: "add", parameters: schema(#"{"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"]}"#)),
        ])
        XCTAssertTrue(scan(g, #"{"name": "get_weather", "arguments": {"city": "Paris"}}"#).complete)
        XCTAssertTrue(scan(g, #"{"name": "add", "arguments": {"a": 1, "b": 2.5}}"#).complete)
        XCTAssertFalse(scan(g, #"{"name": "add", "arguments": {"city": "Paris"}}"#).accepted)
        XCTAssertFalse(scan(g, #"{"name": "mul", "arguments": {}}"#).accepted)
    }
}
