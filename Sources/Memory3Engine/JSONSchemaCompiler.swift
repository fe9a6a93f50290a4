import Foundation

/// Turns a JSON Schema (draft 2020-12 / OpenAPI style, as OpenAI's `json_schema` and tool
/// `parameters` use it) into `JSONSchemaGrammar` nodes. Keywords that only annotate (`title`,
/// `description`, `default`, `examples`, `$schema`, `$id`, `$comment`, `strict`) are skipped;
/// every other keyword this compiler does not enforce is refused with its path.
struct JSONSchemaCompiler {
    var rootSchema: JSONValue
    var nodes: [JSONSchemaGrammar.Node] = []
    var literalSets: [[[UInt8]]] = []
    /// `$ref` targets already compiled (or being compiled: recursion), by reference string.
    private var references: [String: Int] = [:]

    /// Schemas nested deeper than this are refused (the scanner's stack is bounded too).
    static let maxDepth = 12
    static let annotations: Set<String> = ["title", "description", "default", "examples", "$schema", "$id", "$comment",
                                           "strict", "$defs", "definitions", "readOnly", "writeOnly", "deprecated"]

    init(rootSchema: JSONValue) {
        self.rootSchema = rootSchema
    }

    mutating func addLiteralSet(_ literals: [[UInt8]]) -> Int {
        literalSets.append(literals)
        return literalSets.count - 1
    }

    private mutating func add(_ node: JSONSchemaGrammar.Node) -> Int {
        nodes.append(node)
        return nodes.count - 1
    }

    mutating func compile(_ schema: JSONValue, path: String, depth: Int = 0) throws(JSONSchemaError) -> Int {
        guard depth <= Self.maxDepth else { throw JSONSchemaError(path: path, problem: "nests deeper than \(Self.maxDepth) levels") }
        switch schema {
        case .bool(true): return add(.anyValue)
        case .bool(false): throw JSONSchemaError(path: path, problem: "is `false`: no value is allowed")
        case .object(let fields): return try compileObject(fields, path: path, depth: depth)
        default: throw JSONSchemaError(path: path, problem: "must be an object or a boolean, not \(schema.typeName)")
        }
    }

    private mutating func compileObject(_ s: [String: JSONValue], path: String, depth: Int) throws(JSONSchemaError) -> Int {
        if case .string(let reference)? = s["$ref"] {
            if let unexpected = s.keys.first(where: { $0 != "$ref" && !Self.annotations.contains($0) }) {
                throw JSONSchemaError(path: path, problem: "combines $ref with '\(unexpected)', which is not supported")
            }
            return try resolve(reference, path: path, depth: depth)
        }
        if let value = s["const"] { return add(.literals(set: addLiteralSet([value.jsonBytes]))) }
        if let value = s["enum"] {
            guard case .array(let values) = value, !values.isEmpty, values.count <= JSONSchemaGrammar.maxCandidates else {
                throw JSONSchemaError(path: path + ".enum", problem: "must be an array of 1 to \(JSONSchemaGrammar.maxCandidates) values")
            }
            let literals = values.map(\.jsonBytes)
            for a in literals {
                for b in literals where b.count > a.count && Array(b.prefix(a.count)) == a {
                    throw JSONSchemaError(path: path + ".enum", problem: "has values where one begins another (\(String(decoding: a, as: UTF8.self)))")
                }
            }
            return add(.literals(set: addLiteralSet(Array(Set(literals)).sorted { $0.lexicographicallyPrecedes($1) })))
        }
        for keyword in ["anyOf", "oneOf"] {
            guard let value = s[keyword] else { continue }
            guard case .array(let alternatives) = value, !alternatives.isEmpty else {
                throw JSONSchemaError(path: path + "." + keyword, problem: "must be a non-empty array of schemas")
            }
            if let other = s.keys.first(where: { $0 != keyword && !Self.annotations.contains($0) }) {
                throw JSONSchemaError(path: path, problem: "combines \(keyword) with '\(other)', which is not supported")
            }
            var compiled: [Int] = []
            for (i, alternative) in alternatives.enumerated() {
                compiled.append(try compile(alternative, path: "\(path).\(keyword)[\(i)]", depth: depth + 1))
            }
            return try union(compiled, path: path + "." + keyword)
        }
        var types: [String]
        switch s["type"] {
        case nil: types = []
        case .string(let t)?: types = [t]
        case .array(let items)?:
            types = []
            for item in items {
                guard case .string(let t) = item else { throw JSONSchemaError(path: path + ".type", problem: "must name types") }
                types.append(t)
            }
        case let other?: throw JSONSchemaError(path: path + ".type", problem: "must be a string or an array, not \(other.typeName)")
        }
        if types.isEmpty {
            // No type: the keywords say which (properties: object, items: array), else any value.
            if s["properties"] != nil || s["required"] != nil { types = ["object"] }
            else if s["items"] != nil { types = ["array"] }
            else {
                try refuseUnknown(s, allowed: [], path: path)
                return add(.anyValue)
            }
        }
        if types.contains("number") { types.removeAll { $0 == "integer" } }
        var alternatives: [Int] = []
        for type in types {
            alternatives.append(try compileTyped(type, s, path: path, depth: depth, single: types.count == 1))
        }
        return alternatives.count == 1 ? alternatives[0] : try union(alternatives, path: path + ".type")
    }

    private mutating func compileTyped(_ type: String, _ s: [String: JSONValue], path: String, depth: Int,
                                       single: Bool) throws(JSONSchemaError) -> Int {
        switch type {
        case "object":
            try refuseUnknown(s, allowed: ["properties", "required", "additionalProperties"], path: path)
            var properties: [String: JSONValue] = [:]
            if let value = s["properties"] {
                guard case .object(let fields) = value else { throw JSONSchemaError(path: path + ".properties", problem: "must be an object") }
                properties = fields
            }
            guard properties.count <= JSONSchemaGrammar.maxCandidates else {
                throw JSONSchemaError(path: path + ".properties", problem: "has more than \(JSONSchemaGrammar.maxCandidates) properties")
            }
            var required: [String] = []
            if let value = s["required"] {
                guard case .array(let names) = value else { throw JSONSchemaError(path: path + ".required", problem: "must be an array of names") }
                for name in names {
                    guard case .string(let n) = name else { throw JSONSchemaError(path: path + ".required", problem: "must be an array of names") }
                    guard properties[n] != nil else {
                        throw JSONSchemaError(path: path + ".required", problem: "names '\(n)', which is not among the properties")
                    }
                    if !required.contains(n) { required.append(n) }
                }
            }
            // Written order: required ones as listed (declaration order for Pydantic and OpenAI's
            // strict mode), then the optional ones by name.
            let order = required + properties.keys.filter { !required.contains($0) }.sorted()
            var compiled: [JSONSchemaGrammar.Property] = []
            for name in order {
                let node = try compile(properties[name]!, path: "\(path).properties.\(name)", depth: depth + 1)
                compiled.append(.init(key: JSONValue.string(name).jsonBytes, node: node, required: required.contains(name)))
            }
            return add(.object(properties: compiled))
        case "array":
            try refuseUnknown(s, allowed: ["items", "minItems", "maxItems"], path: path)
            let items = try s["items"].map { v throws(JSONSchemaError) in try compile(v, path: path + ".items", depth: depth + 1) } ?? add(.anyValue)
            let minItems = try count(s, "minItems", path: path) ?? 0
            let maxItems = try count(s, "maxItems", path: path)
            if let maxItems, maxItems < minItems { throw JSONSchemaError(path: path, problem: "has maxItems below minItems") }
            return add(.array(items: items, minItems: minItems, maxItems: maxItems))
        case "string":
            try refuseUnknown(s, allowed: ["minLength", "maxLength"], path: path)
            let minLength = try count(s, "minLength", path: path) ?? 0
            let maxLength = try count(s, "maxLength", path: path)
            if let maxLength, maxLength < minLength { throw JSONSchemaError(path: path, problem: "has maxLength below minLength") }
            return add(.string(minLength: minLength, maxLength: maxLength))
        case "number", "integer":
            try refuseUnknown(s, allowed: [], path: path)
            return add(.number(integer: type == "integer"))
        case "boolean":
            try refuseUnknown(s, allowed: [], path: path)
            return add(.literals(set: addLiteralSet([Array("false".utf8), Array("true".utf8)])))
        case "null":
            try refuseUnknown(s, allowed: [], path: path)
            return add(.literals(set: addLiteralSet([Array("null".utf8)])))
        default:
            throw JSONSchemaError(path: path + ".type", problem: "'\(type)' is not a JSON Schema type")
        }
    }

    /// Alternatives must begin with different bytes, so that the first byte picks one.
    private mutating func union(_ alternatives: [Int], path: String) throws(JSONSchemaError) -> Int {
        let node = add(.union(alternatives))
        var taken = Set<UInt8>()
        for alternative in alternatives {
            let first = JSONSchemaGrammar.firstBytes(alternative, nodes: nodes, literalSets: literalSets)
            guard taken.isDisjoint(with: first) else {
                throw JSONSchemaError(path: path, problem: "has alternatives that can begin alike (two objects, two strings, ...), which is not supported")
            }
            taken.formUnion(first)
        }
        return node
    }

    private mutating func resolve(_ reference: String, path: String, depth: Int) throws(JSONSchemaError) -> Int {
        if let node = references[reference] { return node }
        var target: JSONValue? = nil
        if reference == "#" { target = rootSchema }
        for prefix in ["#/$defs/", "#/definitions/"] where reference.hasPrefix(prefix) {
            let name = String(reference.dropFirst(prefix.count))
            if case .object(let root) = rootSchema, case .object(let definitions)? = root[prefix == "#/$defs/" ? "$defs" : "definitions"] {
                target = definitions[name]
            }
        }
        guard let target else { throw JSONSchemaError(path: path + ".$ref", problem: "'\(reference)' is not a local definition ($defs)") }
        // A placeholder union of one, filled once the target is compiled, lets a definition refer to itself.
        let placeholder = add(.union([]))
        references[reference] = placeholder
        let compiled = try compile(target, path: path + "(\(reference))", depth: depth + 1)
        nodes[placeholder] = .union([compiled])
        return placeholder
    }

    private func refuseUnknown(_ s: [String: JSONValue], allowed: Set<String>, path: String) throws(JSONSchemaError) {
        for key in s.keys.sorted() where key != "type" && !allowed.contains(key) && !Self.annotations.contains(key) {
            // Extra properties are never written, whatever it says; also seen beside "null" in a
            // nullable object's type list, so it is passed over for every type.
            if key == "additionalProperties" { continue }
            throw JSONSchemaError(path: path, problem: "uses '\(key)', which constrained decoding does not support here")
        }
    }

    private func count(_ s: [String: JSONValue], _ key: String, path: String) throws(JSONSchemaError) -> Int? {
        guard let value = s[key] else { return nil }
        switch value {
        case .int(let n) where n >= 0 && n <= 10_000: return n
        case .double(let d) where d >= 0 && d <= 10_000 && d.rounded() == d: return Int(d)
        default: throw JSONSchemaError(path: path + "." + key, problem: "must be a whole number from 0 to 10000")
        }
    }
}
