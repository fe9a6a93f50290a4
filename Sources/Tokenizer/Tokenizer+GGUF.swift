import GGUF

extension Tokenizer {
    /// The tokenizer models this engine implements (GGUF `tokenizer.ggml.model`): byte-level BPE
    /// and SentencePiece.
    public static let supportedModels = ["gpt2", "llama"]

    /// Reads the tokenizer stored in a GGUF file's `tokenizer.ggml.*` metadata.
    public init(gguf: GGUFFile) throws {
        let model = gguf.metadata["tokenizer.ggml.model"]?.stringValue ?? "(missing)"
        guard Self.supportedModels.contains(model) else {
            throw TokenizerError.unsupportedModel(model, supported: Self.supportedModels)
        }
        let hasTypes = gguf.metadata["tokenizer.ggml.token_type"] != nil
        let hasBOS = gguf.metadata["tokenizer.ggml.bos_token_id"] != nil
        if model == "llama" {
            // SentencePiece: llama.cpp adds BOS and the space prefix unless the file says otherwise.
            guard let rawScores = gguf.metadata["tokenizer.ggml.scores"]?.arrayValue else {
                throw TokenizerError.invalidVocabulary("a SentencePiece vocabulary needs tokenizer.ggml.scores")
            }
            try self.init(
                sentencePieceTokens: gguf.stringArray("tokenizer.ggml.tokens"),
                scores: rawScores.map { Float($0.doubleValue ?? 0) },
                tokenTypes: hasTypes ? gguf.intArray("tokenizer.ggml.token_type") : [],
                addSpacePrefix: gguf.metadata["tokenizer.ggml.add_space_prefix"]?.boolValue ?? true,
                bosTokenId: hasBOS ? gguf.int("tokenizer.ggml.bos_token_id") : nil,
                eosTokenId: gguf.int("tokenizer.ggml.eos_token_id"),
                addBOS: gguf.metadata["tokenizer.ggml.add_bos_token"]?.boolValue ?? true
            )
            return
        }
        let preName = gguf.metadata["tokenizer.ggml.pre"]?.stringValue ?? "(missing)"
        guard let preTokenizer = PreTokenizer(rawValue: preName) else {
            throw TokenizerError.unsupportedPreTokenizer(preName, supported: PreTokenizer.supportedNames)
        }
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
