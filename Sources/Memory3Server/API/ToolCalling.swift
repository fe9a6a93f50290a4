import Foundation
import Memory3Engine

/// OpenAI tool calling (`tools`, `tool_choice`) on models whose chat templates have no tool
/// syntax of their own: the tools are described in the system message, and a call is written as
/// one JSON object `{"name": ..., "arguments": {...}}` under the constrained decoder, so that its
/// arguments always meet the tool's `parameters` schema. With `tool_choice` "auto" the model may
/// answer in text instead (the constraint applies once its answer begins with `{`).
struct ToolSet: Sendable, Equatable {
    struct Tool: Sendable, Equatable {
        let name: String
        let description: String?
        let parameters: JSONValue
    }

    enum Choice: Sendable, Equatable {
        case auto, required
        case named(String)
    }

    let tools: [Tool]
    let choice: Choice

    static let maxTools = 64

    /// The tools a request offers, or nil when it offers none or `tool_choice` is "none" (then the
    /// model answers in text and never sees the tools).
    static func parse(_ o: JSONObject) throws(APIError) -> ToolSet? {
        if let functions = try o.array("functions"), !functions.isEmpty {
            throw .invalidRequest("'functions' is OpenAI's deprecated form; send 'tools' with {\"type\": \"function\", \"function\": ...}", param: "functions")
        }
        guard let items = try o.array("tools"), !items.isEmpty else {
            if o.value("tool_choice") != nil, try o.string("tool_choice") != "none" {
                throw .invalidRequest("'tool_choice' needs 'tools'", param: "tool_choice")
            }
            return nil
        }
        guard items.count <= maxTools else { throw .invalidRequest("'tools' may hold at most \(maxTools) tools", param: "tools") }
        var tools: [Tool] = []
        for (i, item) in items.enumerated() {
            guard case .object(let fields) = item else { throw .invalidRequest("'tools[\(i)]' must be an object", param: "tools") }
            let entry = JSONObject(fields: fields, prefix: "tools[\(i)].")
            guard try entry.string("type") == "function" else { throw entry.invalid("type", "must be \"function\"") }
            guard let function = try entry.object("function") else { throw entry.invalid("function", "is required") }
            guard let name = try function.string("name") else { throw function.invalid("name", "is required") }
            guard (1...64).contains(name.utf8.count), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") }) else {
                throw function.invalid("name", "must be 1 to 64 letters, digits, '_' or '-'")
            }
            guard !tools.contains(where: { $0.name == name }) else { throw function.invalid("name", "'\(name)' is given twice") }
            let parameters = function.value("parameters") ?? .object(["type": .string("object"), "properties": .object([:])])
            tools.append(Tool(name: name, description: try function.string("description"), parameters: parameters))
        }
        var choice = Choice.auto
        switch o.value("tool_choice") {
        case nil: break
        case .string("none")?: return nil
        case .string("auto")?: choice = .auto
        case .string("required")?: choice = .required
        case .object(let fields)?:
            let named = JSONObject(fields: fields, prefix: "tool_choice.")
            guard try named.string("type") == "function", let function = try named.object("function"), let name = try function.string("name") else {
                throw .invalidRequest("'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": ...}}", param: "tool_choice")
            }
            guard tools.contains(where: { $0.name == name }) else {
                throw .invalidRequest("'tool_choice' names '\(name)', which is not among the tools", param: "tool_choice")
            }
            choice = .named(name)
        case let other?:
            throw .invalidRequest("'tool_choice' must be \"none\", \"auto\", \"required\" or an object, not \(other.typeName)", param: "tool_choice")
        }
        return ToolSet(tools: tools, choice: choice)
    }

    /// The grammar of a call of the tools `choice` allows; a parameters schema the decoder cannot
    /// enforce is a 400 naming the tool.
    func grammar() throws(APIError) -> JSONSchemaGrammar {
        let allowed = tools.filter { if case .named(let name) = choice { $0.name == name } else { true } }
        do {
            return try JSONSchemaGrammar.toolCall(allowed.map { (name: $0.name, parameters: $0.parameters) })
        } catch {
            throw .invalidRequest("'tools': \(error)", param: "tools")
        }
    }

    /// What the system message tells the model.
    var instructions: String {
        var lines = ["You can call these tools:"]
        for tool in tools {
            var fields: [String: JSONValue] = ["name": .string(tool.name), "parameters": tool.parameters]
            if let description = tool.description { fields["description"] = .string(description) }
            lines.append(String(decoding: JSONValue.object(fields).jsonBytes, as: UTF8.self))
        }
        switch choice {
        case .auto: lines.append("To call a tool, answer with only a JSON object {\"name\": <tool name>, \"arguments\": <its arguments>}; otherwise answer in plain text.")
        case .required: lines.append("Answer with only a JSON object {\"name\": <tool name>, \"arguments\": <its arguments>} that calls the tool that fits.")
        case .named(let name): lines.append("Answer with only a JSON object {\"name\": \"\(name)\", \"arguments\": <its arguments>}.")
        }
        return lines.joined(separator: "\n")
    }

    /// A call read back from the generated text, or nil when the text is not one (an "auto"
    /// answer in plain text).
    static func call(in text: String) -> (name: String, arguments: String)? {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard trimmed.hasPrefix("{"), let value = try? JSONDecoder().decode(JSONValue.self, from: Data(trimmed.utf8)),
              case .object(let fields) = value, case .string(let name)? = fields["name"], let arguments = fields["arguments"] else { return nil }
        return (name, String(decoding: arguments.jsonBytes, as: UTF8.self))
    }
}

/// Turns the text of a tool call, as it grows, into OpenAI's stream deltas. The grammar writes
/// `{"name": "<tool>", "arguments": ` + arguments + `}` exactly (leading blanks aside), so the name
/// is known once that prefix is whole, and every later byte is arguments, except the last `}`,
/// held back until more comes or the call ends.
struct ToolCallStream {
    let id: String
    private(set) var started = false
    /// Characters of the arguments already sent.
    private var sent = 0

    init(id: String) { self.id = id }

    /// Deltas for the call's text so far (the whole text, not just the new piece); at the end,
    /// with the whole call, the held-back brace is the call's own and is never sent.
    mutating func take(_ text: String) -> [ToolCallDelta] {
        let call = text.drop { $0.isWhitespace }
        let opening = "{\"name\": \""
        guard call.hasPrefix(opening), let nameEnd = call.dropFirst(opening.count).firstIndex(of: "\"") else { return [] }
        let name = String(call[call.index(call.startIndex, offsetBy: opening.count) ..< nameEnd])
        let separator = "\", \"arguments\": "
        guard call[nameEnd...].hasPrefix(separator) else { return [] }
        var out: [ToolCallDelta] = []
        if !started {
            started = true
            out.append(ToolCallDelta(index: 0, id: id, type: "function", function: .init(name: name, arguments: "")))
        }
        var arguments = call[call.index(nameEnd, offsetBy: separator.count)...]
        // The call's own closing brace: dropped at the end; held back while it may be the arguments'.
        if arguments.last == "}" { arguments = arguments.dropLast() }
        let fresh = arguments.dropFirst(sent)
        if !fresh.isEmpty {
            out.append(ToolCallDelta(index: 0, function: .init(arguments: String(fresh))))
            sent += fresh.count
        }
        return out
    }
}
