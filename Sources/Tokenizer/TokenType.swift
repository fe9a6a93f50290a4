/// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
public enum TokenType: Int, Sendable {
    case normal = 1
    case unknown = 2
    /// Markup such as `<|im_start|>`: parsed from text only on request, never produced by BPE.
    case control = 3
    /// Added tokens matched in text even when special parsing is off.
    case userDefined = 4
    case unused = 5
    case byte = 6

    /// Whether the token's text is literal text rather than GPT-2 byte-level characters.
    var hasLiteralText: Bool { self == .control || self == .userDefined || self == .unknown }
}
