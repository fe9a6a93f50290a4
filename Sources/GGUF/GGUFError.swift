/// Everything that can be wrong with a GGUF file, each case with a message a user can act on.
public enum GGUFError: Error, Equatable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    case cannotWrite(path: String, reason: String)
    case badMagic(found: UInt32)
    case unsupportedVersion(UInt32)
    case truncated(at: Int, needed: Int, fileSize: Int)
    case unknownValueType(UInt32, key: String)
    case unknownTensorType(UInt32, tensor: String)
    case invalidString(at: Int)
    case tooLarge(what: String, count: UInt64)
    case badAlignment(Int)
    case tensorOutOfRange(tensor: String, end: Int, fileSize: Int)
    case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
    case badTensorShape(tensor: String, dimensions: [Int])
    case duplicateTensor(String)
    case duplicateKey(String)
    case missingTensor(String)
    case missingMetadata(String)
    case wrongMetadataType(key: String, expected: String)
    case wrongTensorShape(tensor: String, expected: [Int], found: [Int])

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): return "cannot open GGUF file '\(path)': \(reason)"
        case .cannotWrite(let path, let reason): return "cannot write GGUF file '\(path)': \(reason)"
        case .badMagic(let found):
            return "not a GGUF file: magic is 0x\(String(found, radix: 16)), expected 0x46554747 ('GGUF')"
        case .unsupportedVersion(let v): return "unsupported GGUF version \(v) (supported: 2 and 3)"
        case .truncated(let at, let needed, let size):
            return "GGUF file is truncated: needed \(needed) bytes at offset \(at), but the file has \(size) bytes"
        case .unknownValueType(let t, let key): return "metadata key '\(key)' has unknown value type \(t)"
        case .unknownTensorType(let t, let name): return "tensor '\(name)' has unsupported tensor type \(t)"
        case .invalidString(let at): return "string at offset \(at) is not valid UTF-8"
        case .tooLarge(let what, let count): return "\(what) count \(count) is implausibly large; the file is corrupt"
        case .badAlignment(let a): return "general.alignment \(a) is not a positive power of two"
        case .tensorOutOfRange(let name, let end, let size):
            return "tensor '\(name)' ends at byte \(end), past the end of the file (\(size) bytes)"
        case .misalignedTensor(let name, let offset, let alignment):
            return "tensor '\(name)' starts at data offset \(offset), not a multiple of the file's alignment \(alignment)"
        case .badTensorShape(let name, let dims):
            return "tensor '\(name)' has an invalid shape \(dims) for its type"
        case .duplicateTensor(let name): return "tensor '\(name)' appears twice"
        case .duplicateKey(let key): return "metadata key '\(key)' appears twice"
        case .missingTensor(let name): return "the model has no tensor '\(name)'"
        case .missingMetadata(let key): return "the model has no metadata key '\(key)'"
        case .wrongMetadataType(let key, let expected): return "metadata key '\(key)' is not \(expected)"
        case .wrongTensorShape(let name, let expected, let found):
            return "tensor '\(name)' has shape \(found), expected \(expected)"
        }
    }
}
