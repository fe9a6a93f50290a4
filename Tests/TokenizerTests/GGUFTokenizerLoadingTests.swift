import GGUF
import Tokenizer
import XCTest

/// Loading a tokenizer from GGUF metadata, with small GGUF images built in memory.
final class GGUFTokenizerLoadingTests: XCTestCase {
    func testTokenizerIsReadFromGGUFMetadata() throws {
        let file = try GGUFFile(bytes: GGUFMetadataImage.tokenizer(model: "gpt2", pre: "smollm"))
        let tokenizer = try Tokenizer(gguf: file)
        XCTAssertEqual(tokenizer.vocabularySize, 6)
        XCTAssertEqual(tokenizer.eosTokenId, 0)
        XCTAssertEqual(tokenizer.bosTokenId, 0)
        XCTAssertFalse(tokenizer.addsBOS)
        XCTAssertEqual(tokenizer.encode("ab b<|end|>"), [3, 5, 0])
    }

    func testUnsupportedTokenizerModelIsRejectedNamingTheSupportedOnes() throws {
        let file = try GGUFFile(bytes: GGUFMetadataImage.tokenizer(model: "bert", pre: "smollm"))
        XCTAssertThrowsError(try Tokenizer(gguf: file)) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedModel("bert", supported: ["gpt2", "llama"]))
            XCTAssertTrue("\(error)".contains("supported: gpt2, llama"), "\(error)")
        }
    }

    func testUnsupportedPreTokenizerIsRejectedNamingTheSupportedOnes() throws {
        let file = try GGUFFile(bytes: GGUFMetadataImage.tokenizer(model: "gpt2", pre: "deepseek-coder"))
        XCTAssertThrowsError(try Tokenizer(gguf: file)) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedPreTokenizer("deepseek-coder", supported: ["smollm", "gpt-2", "llama-bpe", "qwen2"]))
            XCTAssertTrue("\(error)".contains("smollm, gpt-2, llama-bpe, qwen2"), "\(error)")
        }
    }

    func testMissingPreTokenizerIsRejected() throws {
        let file = try GGUFFile(bytes: GGUFMetadataImage.tokenizer(model: "gpt2", pre: nil))
        XCTAssertThrowsError(try Tokenizer(gguf: file)) { error in
            XCTAssertEqual(error as? TokenizerError, .unsupportedPreTokenizer("(missing)", supported: ["smollm", "gpt-2", "llama-bpe", "qwen2"]))
        }
    }
}

/// A GGUF v3 image with metadata only (no tensors).
enum GGUFMetadataImage {
    enum Value {
        case string(String)
        case uint32(UInt32)
        case bool(Bool)
        case strings([String])
        case int32s([Int32])
    }

    /// Tokens: 0 <|end|> (control), 1 a, 2 b, 3 ab, 4 Ġ, 5 Ġb; merges "a b", "Ġ b".
    static func tokenizer(model: String, pre: String?) -> [UInt8] {
        var entries: [(String, Value)] = [
            ("tokenizer.ggml.model", .string(model)),
            ("tokenizer.ggml.tokens", .strings(["<|end|>", "a", "b", "ab", "Ġ", "Ġb"])),
            ("tokenizer.ggml.token_type", .int32s([3, 1, 1, 1, 1, 1])),
            ("tokenizer.ggml.merges", .strings(["a b", "Ġ b"])),
            ("tokenizer.ggml.eos_token_id", .uint32(0)),
            ("tokenizer.ggml.bos_token_id", .uint32(0)),
            ("tokenizer.ggml.add_bos_token", .bool(false)),
        ]
        if let pre { entries.append(("tokenizer.ggml.pre", .string(pre))) }
        return image(entries)
    }

    static func image(_ entries: [(String, Value)]) -> [UInt8] {
        var out: [UInt8] = Array("GGUF".utf8)
        append(UInt32(3), to: &out)
        append(UInt64(0), to: &out)
        append(UInt64(entries.count), to: &out)
        for (key, value) in entries {
            appendString(key, to: &out)
            switch value {
            case .string(let s):
                append(UInt32(8), to: &out); appendString(s, to: &out)
            case .uint32(let v):
                append(UInt32(4), to: &out); append(v, to: &out)
            case .bool(let b):
                append(UInt32(7), to: &out); out.append(b ? 1 : 0)
            case .strings(let list):
                append(UInt32(9), to: &out); append(UInt32(8), to: &out); append(UInt64(list.count), to: &out)
                for s in list { appendString(s, to: &out) }
            case .int32s(let list):
                append(UInt32(9), to: &out); append(UInt32(5), to: &out); append(UInt64(list.count), to: &out)
                for v in list { append(UInt32(bitPattern: v), to: &out) }
            }
        }
        while out.count % 32 != 0 { out.append(0) }
        return out
    }

    private static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    private static func appendString(_ s: String, to out: inout [UInt8]) {
        append(UInt64(s.utf8.count), to: &out)
        out.append(contentsOf: s.utf8)
    }
}
