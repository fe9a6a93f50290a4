import GGUF

/// Errors of model loading and inference, each with a message a user can act on.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    case unsupportedArchitecture(String)
    case invalidConfig(String)
    case unsupportedWeightType(tensor: String, type: String)
    case contextFull(needed: Int, capacity: Int)
    case invalidToken(Int, vocabularySize: Int)
    case emptyInput
    case memoryShapeMismatch(String)
    case file(GGUFError)
    /// A sentence encoder's weight file (safetensors) or vocabulary that cannot be used.
    case invalidWeights(String)

    public var description: String {
        switch self {
        case .unsupportedArchitecture(let a):
            return "unsupported model architecture '\(a)' (supported: \(ModelRegistry.supportedArchitectures.joined(separator: ", ")))"
        case .invalidConfig(let why): return "invalid model configuration: \(why)"
        case .unsupportedWeightType(let t, let type):
            return "tensor '\(t)' has type \(type), which the engine cannot multiply yet"
        case .contextFull(let needed, let capacity):
            return "context is full: \(needed) tokens needed, the KV cache holds \(capacity)"
        case .invalidToken(let id, let n): return "token id \(id) is outside the vocabulary (0..<\(n))"
        case .emptyInput: return "no tokens to process"
        case .memoryShapeMismatch(let why): return "memory segment does not fit this model: \(why)"
        case .file(let e): return e.description
        case .invalidWeights(let why): return "invalid encoder weights: \(why)"
        }
    }
}
