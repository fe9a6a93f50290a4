import Tokenizer

/// A chat prompt as tokens, with the tokens the retriever may search marked: the content of user
/// and assistant messages, but not the template's text nor the system prompt (measured: words like
/// "assistant" and "helpful" match unrelated documents in a large store).
public struct ChatPrompt: Sendable {
    public var tokens: [Int]
    public var retrievable: [Bool]

    public init(template: ChatTemplate, messages: [ChatMessage], tokenizer: Tokenizer) {
        tokens = []
        retrievable = []
        for piece in template.pieces(messages, addGenerationPrompt: true) where !piece.text.isEmpty {
            // Template text may hold control tokens; message content is always plain text. The
            // template writes BOS itself where the model wants one.
            let ids = tokenizer.encode(piece.text, parseSpecial: piece.contentRole == nil, addBOS: false)
            let searchable = piece.contentRole == "user" || piece.contentRole == "assistant"
            tokens += ids
            retrievable += [Bool](repeating: searchable, count: ids.count)
        }
    }
}
