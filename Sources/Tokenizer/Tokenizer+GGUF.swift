import GGUF

extension Tokenizer {
    /// The tokenizer models this engine implements (GGUF `tokenizer.ggml.model`).
    public static let supportedModels = ["gpt2"]

    /// Reads the tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata.
    public init(gguf: GGUFFile) throws {
        let model = gguf.metadata["tokenizer.ggml.model"]?.stringValue ?? "(missing)"
        guard Self.supportedModels.contains(model) else {
            throw TokenizerError.unsupportedModel(model, supported: Self.supportedModels)
        }
        let preName = gguf.metadata["tokenizer.ggml.pre"]?.stringValue ?? "(missing)"
        guard let preTokenizer = PreTokenizer(rawValue: preName) else {
            throw TokenizerError.unsupportedPreTokenizer(preName, supported: PreTokenizer.supportedNames)
        }
        let hasTypes = gguf.metadata["tokenizer.ggml.token_type"] != nil
        let hasBOS = gguf.metadata["tokenizer.ggml.bos_token_id"] != nil
        try self.init(
            tokens: gguf.stringArray("tokenizer.ggml.tokens"),
            tokenTypes: hasTypes ? gguf.intArray("tokenizer.ggml.token_type") : [],
            merges: gguf.stringArray("tokenizer.ggml.merges"),
            preTokenizer: preTokenizer,
            bosTokenId: hasBOS ? gguf.int("tokenizer.ggml.bos_token_id") : nil,
            eosTokenId: gguf.int("tokenizer.ggml.eos_token_id"),
            addBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? false
        )
    }
}
