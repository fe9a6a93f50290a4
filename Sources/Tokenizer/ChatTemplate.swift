/// The prompt formats this engine can render without a Jinja interpreter. A GGUF model carries
/// its chat template as Jinja source (`tokenizer.chat_template`); `detect(from:)` recognizes the
/// ones whose output we reproduce exactly and refuses the rest, so a prompt is never silently
/// formatted differently from what the model was trained on.
public enum ChatTemplate: Sendable, Equatable {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message. When the first message is not a
    /// system message and the template has a default system prompt (SmolLM2's "You are a helpful
    /// AI assistant named SmolLM, trained by Hugging Face"), a system turn with it comes first.
    case chatML(defaultSystemPrompt: String?)

    /// Template features whose output `render` does not reproduce.
    static let unsupportedFeatures = [
        "tools", "tool_call", "bos_token", "eos_token", "trim", "strip", "<think>", "reasoning_content",
        "enable_thinking", "documents",
    ]

    public static func detect(from template: String?) throws -> ChatTemplate {
        guard let template, !template.isEmpty else {
            throw TokenizerError.unsupportedChatTemplate("the model has no chat template (tokenizer.chat_template)")
        }
        let required = ["<|im_start|>", "<|im_end|>", "for message in messages", "add_generation_prompt"]
        for marker in required where !template.contains(marker) {
            throw TokenizerError.unsupportedChatTemplate("the template has no '\(marker)'")
        }
        guard template.contains("message['content']") || template.contains("message.content")
                || template.contains("message[\"content\"]") else {
            throw TokenizerError.unsupportedChatTemplate("the template does not write message content")
        }
        for feature in unsupportedFeatures where template.contains(feature) {
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
        }
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
