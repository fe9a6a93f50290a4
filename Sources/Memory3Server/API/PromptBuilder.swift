import Foundation
import Memory3Engine
import Tokenizer

/// Reads `prompt` (completions) into prompt tokens, and `messages` (chat) into chat messages
/// (`ChatPrompt` turns those into tokens).
enum PromptBuilder {
    /// `prompt`: a string, an array with one string, token ids, or an array with one array of ids.
    static func completionPrompt(_ o: JSONObject, tokenizer: Tokenizer) throws(APIError) -> (tokens: [Int], text: String) {
        guard let value = o.value("prompt") else { throw .invalidRequest("'prompt' is required", param: "prompt") }
        switch value {
        case .string(let text):
            return (try encode(text, tokenizer: tokenizer), text)
        case .array(let items):
            guard !items.isEmpty else { throw .invalidRequest("'prompt' is an empty array", param: "prompt") }
            if items.count == 1, case .string(let text) = items[0] { return (try encode(text, tokenizer: tokenizer), text) }
            if items.count == 1, case .array(let ids) = items[0] { return try tokenIds(ids, tokenizer: tokenizer) }
            if case .string = items[0] {
                throw .invalidRequest("only one prompt per request is supported (n=1); send the prompts one by one", param: "prompt")
            }
            return try tokenIds(items, tokenizer: tokenizer)
        default:
            throw .invalidRequest("'prompt' must be a string or an array of token ids, not \(value.typeName)", param: "prompt")
        }
    }

    static func encode(_ text: String, tokenizer: Tokenizer) throws(APIError) -> [Int] {
        guard !text.isEmpty else { throw .invalidRequest("'prompt' is empty", param: "prompt") }
        // A plain prompt is plain text: markup like <|im_start|> in it is not parsed as control tokens.
        let tokens = tokenizer.encode(text, parseSpecial: false)
        guard !tokens.isEmpty else { throw .invalidRequest("'prompt' has no text the tokenizer can encode", param: "prompt") }
        return tokens
    }

    static func tokenIds(_ items: [JSONValue], tokenizer: Tokenizer) throws(APIError) -> (tokens: [Int], text: String) {
        var ids: [Int] = []
        for item in items {
            guard case .int(let id) = item, id >= 0, id < tokenizer.vocabularySize else {
                throw .invalidRequest("'prompt' token ids must be integers in 0..<\(tokenizer.vocabularySize)", param: "prompt")
            }
            ids.append(id)
        }
        guard !ids.isEmpty else { throw .invalidRequest("'prompt' is empty", param: "prompt") }
        return (ids, tokenizer.decode(ids))
    }

    /// Roles a chat message may have ("developer" is OpenAI's newer name for "system"; "tool"
    /// carries a tool's result).
    static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

    /// The messages as the chat template takes them. With `tools`, their description joins the
    /// system message; an assistant's `tool_calls` are written as the JSON the model would
    /// write, and each run of `tool` results becomes one user turn (templates without a tool
    /// role need turns that alternate).
    static func chatMessages(_ o: JSONObject, tools: ToolSet? = nil) throws(APIError) -> [ChatMessage] {
        guard let items = try o.array("messages") else { throw .invalidRequest("'messages' is required", param: "messages") }
        guard !items.isEmpty else { throw .invalidRequest("'messages' must hold at least one message", param: "messages") }
        var messages: [ChatMessage] = []
        for (i, item) in items.enumerated() {
            guard case .object(let fields) = item else {
                throw .invalidRequest("'messages[\(i)]' must be an object with 'role' and 'content'", param: "messages")
            }
            let message = JSONObject(fields: fields, prefix: "messages[\(i)].")
            guard let role = try message.string("role") else { throw message.invalid("role", "is required") }
            guard roles.contains(role) else {
                throw message.invalid("role", "must be system, developer, user, assistant or tool, not '\(role)'")
            }
            switch role {
            case "assistant" where message.value("tool_calls") != nil:
                let calls = try toolCallText(message)
                let content = message.value("content") == nil ? "" : try messageContent(message)
                messages.append(ChatMessage(role: "assistant", content: [content, calls].filter { !$0.isEmpty }.joined(separator: "\n")))
            case "tool":
                let result = "Tool result" + ((try message.string("tool_call_id")).map { " (\($0))" } ?? "") + ": " + (try messageContent(message))
                if let last = messages.last, last.role == "user", i > 0, case .object(let previous) = items[i - 1], previous["role"] == .string("tool") {
                    messages[messages.count - 1].content += "\n" + result
                } else {
                    messages.append(ChatMessage(role: "user", content: result))
                }
            default:
                messages.append(ChatMessage(role: role == "developer" ? "system" : role, content: try messageContent(message)))
            }
        }
        if let tools {
            if messages[0].role == "system" {
                messages[0].content += "\n\n" + tools.instructions
            } else {
                messages.insert(ChatMessage(role: "system", content: tools.instructions), at: 0)
            }
        }
        return messages
    }

    /// An assistant's earlier `tool_calls`, one JSON object per line as a call is generated.
    static func toolCallText(_ message: JSONObject) throws(APIError) -> String {
        guard let calls = try message.array("tool_calls") else { return "" }
        var lines: [String] = []
        for (j, call) in calls.enumerated() {
            guard case .object(let fields) = call, case .object(let function)? = fields["function"],
                  case .string(let name)? = function["name"] else {
                throw message.invalid("tool_calls[\(j)]", "must be {\"type\": \"function\", \"function\": {\"name\": ..., \"arguments\": ...}}")
            }
            var arguments = JSONValue.object([:])
            if case .string(let text)? = function["arguments"] {
                arguments = (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
            }
            lines.append("{\"name\": \(String(decoding: JSONValue.string(name).jsonBytes, as: UTF8.self)), \"arguments\": \(String(decoding: arguments.jsonBytes, as: UTF8.self))}")
        }
        return lines.joined(separator: "\n")
    }

    /// `content`: a string, or an array of `{"type": "text", "text": ...}` parts (joined).
    static func messageContent(_ message: JSONObject) throws(APIError) -> String {
        guard let value = message.value("content") else { throw message.invalid("content", "is required") }
        switch value {
        case .string(let s): return s
        case .array(let parts):
            var text = ""
            for part in parts {
                guard case .object(let fields) = part, fields["type"] == .string("text"), case .string(let s)? = fields["text"] else {
                    throw message.invalid("content", "parts must be {\"type\": \"text\", \"text\": ...}; other part types are not supported")
                }
                text += s
            }
            return text
        default:
            throw message.mismatch("content", "a string or an array of text parts", value)
        }
    }
}
