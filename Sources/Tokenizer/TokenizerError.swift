/// Everything that can stop a tokenizer or chat template from being built, each case with a
/// message that says what is supported.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case unsupportedModel(String, supported: [String])
    case unsupportedPreTokenizer(String, supported: [String])
    /// The vocabulary arrays are inconsistent (counts differ, an id is out of range, ...).
    case invalidVocabulary(String)
    case unsupportedChatTemplate(String)

    public var description: String {
        switch self {
        case .unsupportedModel(let name, let supported):
            return "unsupported tokenizer model '\(name)' (tokenizer.ggml.model); supported: \(supported.joined(separator: ", "))"
        case .unsupportedPreTokenizer(let name, let supported):
            return "unsupported pre-tokenizer '\(name)' (tokenizer.ggml.pre); supported: \(supported.joined(separator: ", "))"
        case .invalidVocabulary(let reason):
            return "invalid tokenizer vocabulary: \(reason)"
        case .unsupportedChatTemplate(let reason):
            return "unsupported chat template: \(reason); supported: ChatML (<|im_start|>role\\ncontent<|im_end|>), Gemma (<start_of_turn>role\\ncontent<end_of_turn>) and Llama 3 (<|start_header_id|>role<|end_header_id|>)"
        }
    }
}
