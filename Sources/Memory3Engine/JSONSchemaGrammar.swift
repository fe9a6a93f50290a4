import Foundation

/// A JSON Schema compiled into the small grammar that `JSONSchemaScanner` walks while tokens are
/// sampled (`response_format: json_schema`, tool calls). Only schemas whose every instance the
/// scanner can produce byte by byte are taken; any keyword that would constrain the output in a
/// way the scanner does not enforce (`pattern`, `format`, `minimum`, ...) is refused with its
/// path, so that an accepted schema is always met.
///
/// What is generated: objects write their properties in a fixed order (the order of `required`,
/// which Pydantic and OpenAI's strict mode list in declaration order, then the optional ones by
/// name) and never add properties the schema does not name; optional properties may be left out.
public final class JSONSchemaGrammar: Sendable {
    public struct Property: Sendable {
        /// The key as written: `"name"` (JSON-encoded, quotes included).
        let key: [UInt8]
        let node: Int
        let required: Bool
    }

    indirect enum Node: Sendable {
        /// Any JSON value (`{}`, `true`, no type).
        case anyValue
        case object(properties: [Property])
        case array(items: Int, minItems: Int, maxItems: Int?)
        case string(minLength: Int, maxLength: Int?)
        case number(integer: Bool)
        /// One of these JSON texts (enum, const, boolean, null): an index into `literalSets`.
        case literals(set: Int)
        /// One of several alternatives, told apart by their first byte.
        case union([Int])
        /// One of several options, each a fixed prefix, a value, and a fixed suffix (a tool call:
        /// `{"name": "f", "arguments": ` + f's parameters + `}`); prefixes in `literalSets[set]`,
        /// suffixes one set each.
        case tagged(set: Int, nodes: [Int], suffixSets: [Int])
    }

    let nodes: [Node]
    let root: Int
    let literalSets: [[[UInt8]]]
    /// Fewest bytes of a whole value of each node.
    let minimumBytes: [Int]
    /// For each object node, `restRequired[node][i]`: fewest bytes that the required properties
    /// from index `i` on add after a value (`,"key":` + value each).
    let restRequired: [[Int]]
    /// For each union node, the alternative each first byte begins (-1: none).
    let unionChoice: [Int: [Int32]]

    /// Largest number of alternatives a literal set, or properties an object, may have (their
    /// live candidates are bits of a UInt64).
    static let maxCandidates = 64

    init(nodes: [Node], root: Int, literalSets: [[[UInt8]]]) throws(JSONSchemaError) {
        self.nodes = nodes
        self.root = root
        self.literalSets = literalSets
        (minimumBytes, restRequired) = try Self.costs(nodes: nodes, literalSets: literalSets)
        var choices: [Int: [Int32]] = [:]
        for (i, node) in nodes.enumerated() {
            guard case .union(let alternatives) = node else { continue }
            var table = [Int32](repeating: -1, count: 256)
            for alternative in alternatives.reversed() {
                for b in Self.firstBytes(alternative, nodes: nodes, literalSets: literalSets) { table[Int(b)] = Int32(alternative) }
            }
            choices[i] = table
        }
        unionChoice = choices
    }

    /// A grammar for the instances of `schema` (`response_format: json_schema`); a keyword it
    /// cannot enforce is a `JSONSchemaError` with its path.
    public static func schema(_ schema: JSONValue) throws(JSONSchemaError) -> JSONSchemaGrammar {
        var builder = JSONSchemaCompiler(rootSchema: schema)
        let root = try builder.compile(schema, path: "schema")
        return try JSONSchemaGrammar(nodes: builder.nodes, root: root, literalSets: builder.literalSets)
    }

    /// A grammar for one call of one of `tools` (name, parameters schema):
    /// `{"name": "NAME", "arguments": ARGS}`, where ARGS meets that tool's parameters.
    public static func toolCall(_ tools: [(name: String, parameters: JSONValue)]) throws(JSONSchemaError) -> JSONSchemaGrammar {
        var builder = JSONSchemaCompiler(rootSchema: .null)
        var prefixes: [[UInt8]] = [], bodies: [Int] = [], suffixes: [Int] = []
        for tool in tools {
            builder.rootSchema = tool.parameters
            bodies.append(try builder.compile(tool.parameters, path: "tools[\(tool.name)].parameters"))
            let name = String(decoding: JSONValue.string(tool.name).jsonBytes, as: UTF8.self)
            prefixes.append(Array("{\"name\": \(name), \"arguments\": ".utf8))
            suffixes.append(builder.addLiteralSet([Array("}".utf8)]))
        }
        guard !prefixes.isEmpty, prefixes.count <= maxCandidates else {
            throw JSONSchemaError(path: "tools", problem: "between 1 and \(maxCandidates) tools are needed")
        }
        let set = builder.addLiteralSet(prefixes)
        builder.nodes.append(.tagged(set: set, nodes: bodies, suffixSets: suffixes))
        return try JSONSchemaGrammar(nodes: builder.nodes, root: builder.nodes.count - 1, literalSets: builder.literalSets)
    }

    /// The bytes a value of `node` may start with.
    func firstBytes(_ node: Int) -> Set<UInt8> { Self.firstBytes(node, nodes: nodes, literalSets: literalSets) }

    static func firstBytes(_ node: Int, nodes: [Node], literalSets: [[[UInt8]]], seen: Set<Int> = []) -> Set<UInt8> {
        switch nodes[node] {
        case .anyValue: return Set(Array("{[\"-0123456789tfn".utf8))
        case .object: return [0x7B]
        case .array: return [0x5B]
        case .string: return [0x22]
        case .number: return Set(Array("-0123456789".utf8))
        case .literals(let set): return Set(literalSets[set].compactMap(\.first))
        case .union(let alternatives):
            guard !seen.contains(node) else { return [] }
            return alternatives.reduce(into: Set<UInt8>()) { $0.formUnion(firstBytes($1, nodes: nodes, literalSets: literalSets, seen: seen.union([node]))) }
        case .tagged(let set, _, _): return Set(literalSets[set].compactMap(\.first))
        }
    }

    /// Fewest bytes per node, by iterating to a fixed point (references may recurse); a node
    /// with no finite instance (a required property that contains itself) is refused.
    private static func costs(nodes: [Node], literalSets: [[[UInt8]]]) throws(JSONSchemaError) -> ([Int], [[Int]]) {
        let unbounded = Int.max / 4
        var minimum = [Int](repeating: unbounded, count: nodes.count)
        func rest(_ properties: [Property]) -> [Int] {
            var tail = [Int](repeating: 0, count: properties.count + 1)
            for i in stride(from: properties.count - 1, through: 0, by: -1) {
                let p = properties[i]
                tail[i] = tail[i + 1] + (p.required ? min(unbounded, 1 + p.key.count + 1 + minimum[p.node]) : 0)
            }
            return tail.map { min($0, unbounded) }
        }
        var changed = true
        while changed {
            changed = false
            for (i, node) in nodes.enumerated() {
                let cost: Int
                switch node {
                case .anyValue, .number: cost = 1
                case .string(let minLength, _): cost = 2 + minLength
                case .literals(let set): cost = literalSets[set].map(\.count).min() ?? unbounded
                case .array(let items, let minItems, _):
                    cost = minItems == 0 ? 2 : min(unbounded, 2 + minItems * (minimum[items] + 1) - 1)
                case .object(let properties):
                    let r = rest(properties)[0]
                    cost = r == 0 ? 2 : min(unbounded, 1 + r)
                case .union(let alternatives): cost = alternatives.map { minimum[$0] }.min() ?? unbounded
                case .tagged(let set, let bodies, let suffixes):
                    cost = zip(literalSets[set], zip(bodies, suffixes)).map { prefix, pair in
                        min(unbounded, prefix.count + minimum[pair.0] + literalSets[pair.1][0].count)
                    }.min() ?? unbounded
                }
                if cost < minimum[i] { minimum[i] = cost; changed = true }
            }
        }
        if minimum.contains(where: { $0 >= unbounded }) {
            throw JSONSchemaError(path: "schema", problem: "has no finite instance (a required property contains itself)")
        }
        let restRequired = nodes.map { node -> [Int] in
            if case .object(let properties) = node { return rest(properties) }
            return []
        }
        return (minimum, restRequired)
    }
}

/// A schema the constrained decoder cannot guarantee: where, and why.
public struct JSONSchemaError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let problem: String
    public var description: String { "\(path) \(problem)" }
}
