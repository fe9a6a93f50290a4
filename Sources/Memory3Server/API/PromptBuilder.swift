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

    /// Roles a chat message may have ("developer" is OpenAI's newer name for "system").
    static let roles: Set<String> = ["system", "developer", "user", "assistant"]

    static func chatMessages(_ o: JSONObject) throws(APIError) -> [ChatMessage] {
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
                throw message.invalid("role", "must be system, developer, user or assistant, not '\(role)'")
            }
            let content = try messageContent(message)
            messages.append(ChatMessage(role: role == "developer" ? "system" : role, content: content))
        }
        return messages
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
