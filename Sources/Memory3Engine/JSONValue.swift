import Foundation

/// A JSON document as a value, so that request fields can be checked one by one with messages
/// that name the field (a `Decodable` struct would fail on the first mismatch with a message
/// about coding paths).
public enum JSONValue: Sendable, Equatable, Decodable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .double(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// "a string", "an object": for messages that say what was found.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    /// Compact JSON text (object keys sorted): how the constrained decoder writes an enum or
    /// const value, and how tool-call arguments are sent back.
    public var jsonBytes: [UInt8] {
        switch self {
        case .null: return Array("null".utf8)
        case .bool(let b): return Array((b ? "true" : "false").utf8)
        case .int(let i): return Array(String(i).utf8)
        case .double(let d):
            if d.rounded() == d && abs(d) < 1e15 { return Array(String(Int(d)).utf8) }
            return Array("\(d)".utf8)
        case .string(let s):
            let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
            return Array(data.dropFirst().dropLast())
        case .array(let items):
            return Array("[".utf8) + items.map(\.jsonBytes).joined(separator: Array(",".utf8)) + Array("]".utf8)
        case .object(let fields):
            let members = fields.keys.sorted().map { JSONValue.string($0).jsonBytes + Array(":".utf8) + fields[$0]!.jsonBytes }
            return Array("{".utf8) + members.joined(separator: Array(",".utf8)) + Array("}".utf8)
        }
    }
}
