/// The prompt formats this engine can render without a Jinja interpreter. A GGUF model carries
/// its chat template as Jinja source (`tokenizer.chat_template`); `detect(from:)` recognizes the
/// ones whose output we reproduce exactly and refuses the rest, so a prompt is never silently
/// formatted differently from what the model was trained on.
public enum ChatTemplate: Sendable, Equatable {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message. When the first message is not a
    /// system message and the template has a default system prompt (SmolLM2's "You are a helpful
    /// AI assistant named SmolLM, trained by Hugging Face"), a system turn with it comes first.
    case chatML(defaultSystemPrompt: String?)
    /// Gemma's turns: `<bos>`, then `<start_of_turn>{user|model}\n{content, trimmed}<end_of_turn>\n`
    /// per message; a leading system message becomes a prefix (its content and a blank line) of
    /// the first user turn. Roles must alternate user, model, user, ...
    case gemma
    /// Llama 3's headers: `<|begin_of_text|>`, then `<|start_header_id|>{role}<|end_header_id|>\n\n
    /// {content, trimmed}<|eot_id|>` per message (Llama 3.0's template; 3.1's date and tool
    /// preamble is not rendered, such templates are refused).
    case llama3

    /// Template features whose output `render` does not reproduce.
    static let unsupportedFeatures = [
        "tools", "tool_call", "bos_token", "eos_token", "trim", "strip", "<think>", "reasoning_content",
        "enable_thinking", "documents",
    ]

    public static func detect(from template: String?) throws -> ChatTemplate {
        guard let template, !template.isEmpty else {
            throw TokenizerError.unsupportedChatTemplate("the model has no chat template (tokenizer.chat_template)")
        }
        // The formats recognised by a marker: what the template must also hold, and what it may
        // not use (features this engine does not render).
        let families: [(format: ChatTemplate, marker: String, style: String, required: [String], unsupported: [String], why: String)] = [
            (.llama3, "<|start_header_id|>", "Llama 3", ["<|end_header_id|>", "<|eot_id|>", "for message in", "add_generation_prompt"],
             ["tools", "tool_call", "date_string", "Cutting Knowledge", "ipython"], " (Llama 3.1+ preamble)"),
            (.gemma, "<start_of_turn>", "Gemma", ["<end_of_turn>", "for message in", "model", "add_generation_prompt"],
             ["tools", "tool_call", "<think>", "enable_thinking", "documents"], ""),
        ]
        for family in families where template.contains(family.marker) {
            for marker in family.required where !template.contains(marker) {
                throw TokenizerError.unsupportedChatTemplate("a \(family.style)-style template without '\(marker)'")
            }
            for feature in family.unsupported where template.contains(feature) {
                throw TokenizerError.unsupportedChatTemplate("the template uses '\(feature)'\(family.why), which this engine does not render")
            }
            return family.format
        }
        let required = ["<|im_start|>", "<|im_end|>", "for message in messages", "add_generation_prompt"]
        for marker in required where !template.contains(marker) {
            throw TokenizerError.unsupportedChatTemplate("the template has no '\(marker)'")
        }
        guard template.contains("message['content']") || template.contains("message.content")
                || template.contains("message[\"content\"]") else {
            throw TokenizerError.unsupportedChatTemplate("the template does not write message content")
        }
        // A tool branch that only renders when tools are passed (Qwen2.5's template) is fine: this
        // engine never passes tools.
        let toolsGuarded = template.contains("if tools")
        for feature in unsupportedFeatures where template.contains(feature) {
            if toolsGuarded && ["tools", "tool_call"].contains(feature) { continue }
            throw TokenizerError.unsupportedChatTemplate("the template uses '\(feature)', which this engine does not render")
        }
        return .chatML(defaultSystemPrompt: defaultSystemPrompt(in: template))
    }

    /// The prompt text for `messages`, exactly as the Jinja template renders it; with
    /// `addGenerationPrompt` it ends with the opening of the assistant's turn.
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        pieces(messages, addGenerationPrompt: addGenerationPrompt).map(\.text).joined()
    }

    /// One piece of a rendered prompt: template text, or the content of a message.
    public struct Piece: Sendable, Equatable {
        public var text: String
        /// The role whose message content this is; nil for the template's own text.
        public var contentRole: String?
    }

    /// The rendered prompt in pieces, so a caller can tell message content from template text (the
    /// retriever must not search for "assistant" or the default system prompt).
    public func pieces(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [Piece] {
        switch self {
        case .chatML(let defaultSystemPrompt):
            var pieces: [Piece] = []
            if let defaultSystemPrompt, let first = messages.first, first.role != "system" {
                pieces.append(Piece(text: "<|im_start|>system\n\(defaultSystemPrompt)<|im_end|>\n", contentRole: nil))
            }
            for message in messages {
                pieces.append(Piece(text: "<|im_start|>\(message.role)\n", contentRole: nil))
                pieces.append(Piece(text: message.content, contentRole: message.role))
                pieces.append(Piece(text: "<|im_end|>\n", contentRole: nil))
            }
            if addGenerationPrompt { pieces.append(Piece(text: "<|im_start|>assistant\n", contentRole: nil)) }
            return pieces
        case .gemma:
            var pieces = [Piece(text: "<bos>", contentRole: nil)]
            var turns = messages[...]
            var systemPrefix: String?
            if let first = turns.first, first.role == "system" {
                systemPrefix = first.content + "\n\n"
                turns = turns.dropFirst()
            }
            for (i, message) in turns.enumerated() {
                pieces.append(Piece(text: "<start_of_turn>\(message.role == "assistant" ? "model" : message.role)\n", contentRole: nil))
                if i == 0, let systemPrefix { pieces.append(Piece(text: systemPrefix, contentRole: "system")) }
                pieces.append(Piece(text: message.content.trimmingWhitespace(), contentRole: message.role))
                pieces.append(Piece(text: "<end_of_turn>\n", contentRole: nil))
            }
            if addGenerationPrompt { pieces.append(Piece(text: "<start_of_turn>model\n", contentRole: nil)) }
            return pieces
        case .llama3:
            var pieces = [Piece(text: "<|begin_of_text|>", contentRole: nil)]
            for message in messages {
                pieces.append(Piece(text: "<|start_header_id|>\(message.role)<|end_header_id|>\n\n", contentRole: nil))
                pieces.append(Piece(text: message.content.trimmingWhitespace(), contentRole: message.role))
                pieces.append(Piece(text: "<|eot_id|>", contentRole: nil))
            }
            if addGenerationPrompt { pieces.append(Piece(text: "<|start_header_id|>assistant<|end_header_id|>\n\n", contentRole: nil)) }
            return pieces
        }
    }

    /// Why `messages` cannot be rendered by this template (nil: they can). Gemma's template
    /// raises an error unless the turns after an optional system message alternate user, assistant.
    public func problem(with messages: [ChatMessage]) -> String? {
        guard self == .gemma else { return nil }
        let turns = messages.first?.role == "system" ? Array(messages.dropFirst()) : messages
        for (i, message) in turns.enumerated() where (message.role == "user") != (i % 2 == 0) {
            return "this model's chat template needs the messages (after an optional first system message) to alternate user, assistant, user, ...; message \(i + (turns.count < messages.count ? 1 : 0)) is '\(message.role)'"
        }
        return nil
    }

    /// The text of a string literal like `'<|im_start|>system\nYou are ...<|im_end|>\n'` in the
    /// template's tags, if there is one.
    static func defaultSystemPrompt(in template: String) -> String? {
        let opening = "<|im_start|>system\n"
        for literal in JinjaStringLiterals.all(in: template) {
            guard literal.hasPrefix(opening), let end = literal.firstRange(of: "<|im_end|>") else { continue }
            let prompt = literal[literal.index(literal.startIndex, offsetBy: opening.count)..<end.lowerBound]
            if !prompt.isEmpty { return String(prompt) }
        }
        return nil
    }
}

extension String {
    /// Jinja's `trim` (Python's `str.strip()`): leading and trailing whitespace removed.
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first ... last])
    }
}
