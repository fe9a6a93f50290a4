import Foundation
import Memory3Engine

extension JSONValue {
    /// Parses a request body, which must be a UTF-8 JSON object.
    public static func parseObject(_ body: [UInt8]) throws(APIError) -> JSONObject {
        guard !body.isEmpty else { throw .invalidJSON("the body is empty") }
        guard String(validating: body, as: UTF8.self) != nil else { throw .invalidJSON("the body is not valid UTF-8") }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: Data(body))
        } catch {
            throw .invalidJSON(Self.parseProblem(error))
        }
        guard case .object(let fields) = value else { throw .invalidJSON("the body must be a JSON object") }
        return JSONObject(fields: fields)
    }

    /// Where the parser gave up, in its own short words ("Unexpected character 'x' around line 1,
    /// column 3."); never Swift's or Foundation's error dump.
    static func parseProblem(_ error: any Error) -> String {
        if case DecodingError.dataCorrupted(let context) = error,
           let underlying = context.underlyingError as NSError?,
           let detail = underlying.userInfo["NSDebugDescription"] as? String, !detail.isEmpty, detail.count < 200 {
            return detail
        }
        return "it could not be parsed (check quoting, commas and brackets)"
    }
}

/// A JSON object whose fields are read with type checks; every mismatch is an
/// `APIError.invalidRequest` naming the field. A field set to null counts as absent.
public struct JSONObject: Sendable, Equatable {
    public let fields: [String: JSONValue]
    /// The field path prefix for messages ("stream_options.").
    var prefix = ""

    public init(fields: [String: JSONValue], prefix: String = "") {
        self.fields = fields
        self.prefix = prefix
    }

    func value(_ key: String) -> JSONValue? {
        guard let v = fields[key], v != .null else { return nil }
        return v
    }

    func mismatch(_ key: String, _ expected: String, _ got: JSONValue) -> APIError {
        .invalidRequest("'\(prefix)\(key)' must be \(expected), not \(got.typeName)", param: prefix + key)
    }

    func invalid(_ key: String, _ message: String) -> APIError {
        .invalidRequest("'\(prefix)\(key)' \(message)", param: prefix + key)
    }

    public func string(_ key: String) throws(APIError) -> String? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v else { throw mismatch(key, "a string", v) }
        return s
    }

    public func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw mismatch(key, "a boolean", v) }
        return b
    }

    /// An integer within `range` (a float with no fraction, like 5.0, counts).
    public func int(_ key: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let v = value(key) else { return nil }
        let i: Int
        switch v {
        case .int(let x): i = x
        case .double(let d) where d.rounded() == d && abs(d) < 1e15: i = Int(d)
        case .double: throw invalid(key, "must be an integer between \(range.lowerBound) and \(range.upperBound)")
        default: throw mismatch(key, "an integer", v)
        }
        guard range.contains(i) else {
            throw invalid(key, "must be between \(range.lowerBound) and \(range.upperBound), not \(i)")
        }
        return i
    }

    /// A number within `range`.
    public func double(_ key: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
        guard let v = value(key) else { return nil }
        let d: Double
        switch v {
        case .int(let x): d = Double(x)
        case .double(let x): d = x
        default: throw mismatch(key, "a number", v)
        }
        guard d.isFinite, range.contains(d) else {
            throw invalid(key, "must be between \(range.lowerBound) and \(range.upperBound)")
        }
        return d
    }

    public func object(_ key: String) throws(APIError) -> JSONObject? {
        guard let v = value(key) else { return nil }
        guard case .object(let o) = v else { throw mismatch(key, "an object", v) }
        return JSONObject(fields: o, prefix: prefix + key + ".")
    }

    public func array(_ key: String) throws(APIError) -> [JSONValue]? {
        guard let v = value(key) else { return nil }
        guard case .array(let a) = v else { throw mismatch(key, "an array", v) }
        return a
    }
}
