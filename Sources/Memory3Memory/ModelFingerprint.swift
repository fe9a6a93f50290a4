import COpenSSL
import Foundation
import GGUF

/// Identifies the model that wrote a memory: the hex SHA-256 of a GGUF file's metadata (keys
/// sorted, with typed values) and its tensor infos (name, type, dimensions, offset). Tensor data
/// is not read, so it costs milliseconds; a model with other weights but the same layout and
/// metadata would collide, which GGUF files in practice never do (the metadata names the model,
/// its quantization and its tokenizer).
public enum ModelFingerprint {
    public static func of(_ file: GGUFFile) -> String {
        var w = BlobWriter(capacity: 1 << 16)
        w.bytes.append(contentsOf: Array("memory3-model-fingerprint-v1".utf8))
        for key in file.metadata.keys.sorted() {
            append(string: key, to: &w)
            append(value: file.metadata[key]!, to: &w)
        }
        w.write(UInt64(file.tensors.count))
        for tensor in file.tensors {
            append(string: tensor.name, to: &w)
            w.write(tensor.type.rawValue)
            w.write(UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { w.write(UInt64(d)) }
            w.write(UInt64(tensor.offset))
        }
        return sha256Hex(w.bytes)
    }

    /// Hex SHA-256 of `bytes` (lowercase, 64 characters).
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        bytes.withUnsafeBytes(sha256Hex(raw:))
    }

    /// Hex SHA-256 of `data`, read in place (not copied into an array first).
    public static func sha256Hex(_ data: Data) -> String {
        data.withUnsafeBytes(sha256Hex(raw:))
    }

    private static func sha256Hex(raw: UnsafeRawBufferPointer) -> String {
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        _ = COpenSSL.SHA256(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &digest)
        return hex(digest)
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(2 * bytes.count)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func append(string: String, to w: inout BlobWriter) {
        let utf8 = Array(string.utf8)
        w.write(UInt64(utf8.count))
        w.bytes.append(contentsOf: utf8)
    }

    private static func append(value: GGUFValue, to w: inout BlobWriter) {
        w.write(value.kind.rawValue)
        switch value {
        case .uint8(let v): w.write(v)
        case .int8(let v): w.write(v)
        case .uint16(let v): w.write(v)
        case .int16(let v): w.write(v)
        case .uint32(let v): w.write(v)
        case .int32(let v): w.write(v)
        case .float32(let v): w.write(v.bitPattern)
        case .bool(let v): w.write(UInt8(v ? 1 : 0))
        case .string(let s): append(string: s, to: &w)
        case .array(let items):
            w.write(UInt64(items.count))
            for item in items { append(value: item, to: &w) }
        case .uint64(let v): w.write(v)
        case .int64(let v): w.write(v)
        case .float64(let v): w.write(v.bitPattern)
        }
    }
}
