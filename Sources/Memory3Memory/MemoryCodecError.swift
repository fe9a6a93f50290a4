/// Why a memory blob cannot be written or read, each case with a message a user can act on.
/// Reading never crashes on bad bytes: every malformed input maps to one of these.
public enum MemoryCodecError: Error, Equatable, CustomStringConvertible {
    case unknownCodec(String)
    /// The bytes do not start with the memory blob magic.
    case notAMemoryBlob
    case unsupportedVersion(UInt16, supported: UInt16)
    /// The blob ends before `needed` bytes; it holds `available`.
    case truncated(needed: Int, available: Int)
    /// A checksum (of the header or of the payload) does not match: the bytes were damaged.
    case checksumMismatch(String)
    /// The blob is damaged or inconsistent in a way the checksums did not catch.
    case corrupt(String)
    /// The memory was written by another model (or another build of it); re-ingest with this model.
    case modelMismatch(expected: String, found: String)
    /// Shapes beyond what a memory may hold.
    case tooLarge(String)
    /// The memory holds a NaN or an infinity, which no codec stores.
    case nonFiniteValue
    /// The memory to encode is malformed (layers not ascending, no heads, ...).
    case invalidMemory(String)
    case compressionFailed(code: Int32)

    public var description: String {
        switch self {
        case .unknownCodec(let c): return "unknown memory codec '\(c)' (use fp16, int8, int4, int3, int2, int3r or int2r)"
        case .notAMemoryBlob: return "not a memory blob (bad magic)"
        case .unsupportedVersion(let v, let s):
            return "memory blob version \(v) is not supported (this build reads versions 1 to \(s)); upgrade this server or re-ingest the document"
        case .truncated(let needed, let available):
            return "memory blob is truncated: \(needed) bytes needed, \(available) present"
        case .checksumMismatch(let what): return "memory blob is damaged: \(what) checksum does not match"
        case .corrupt(let why): return "memory blob is damaged: \(why)"
        case .modelMismatch(let expected, let found):
            return "memory was written by another model (fingerprint \(found.prefix(16))…, this model is \(expected.prefix(16))…); re-ingest the documents with this model"
        case .tooLarge(let why): return "memory is too large: \(why)"
        case .nonFiniteValue: return "memory holds a NaN or infinite value and cannot be encoded"
        case .invalidMemory(let why): return "cannot encode the memory: \(why)"
        case .compressionFailed(let code): return "zlib failed with code \(code)"
        }
    }
}
