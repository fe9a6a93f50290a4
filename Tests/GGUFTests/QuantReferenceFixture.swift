import Foundation
@testable import GGUF

/// Tests/Fixtures/quant-reference.json, made by scripts/make-quant-fixture.py with the `gguf`
/// Python package: random blocks of each type with their dequantized values, and for the types
/// we quantize, random floats with the blocks gguf's reference quantizers make of them.
struct QuantReferenceFixture: Decodable {
    struct Sample: Decodable {
        let rawHex: String
        let floats: [Float]
        var raw: [UInt8] { hexBytes(rawHex) }
        enum CodingKeys: String, CodingKey { case rawHex = "raw_hex", floats }
    }

    struct Entry: Decodable {
        let rawHex: String
        let floats: [Float]
        let quantize: Sample?
        var raw: [UInt8] { hexBytes(rawHex) }
        enum CodingKeys: String, CodingKey { case rawHex = "raw_hex", floats, quantize }
    }

    let entries: [String: Entry]

    init(from decoder: Decoder) throws {
        entries = try decoder.singleValueContainer().decode([String: Entry].self)
    }

    static func load() throws -> QuantReferenceFixture {
        let url = repositoryRoot.appendingPathComponent("Tests/Fixtures/quant-reference.json")
        return try JSONDecoder().decode(QuantReferenceFixture.self, from: Data(contentsOf: url))
    }
}

func hexBytes(_ hex: String) -> [UInt8] {
    let digits = Array(hex.utf8)
    return stride(from: 0, to: digits.count, by: 2).map { UInt8(String(decoding: digits[$0 ..< $0 + 2], as: UTF8.self), radix: 16)! }
}

/// `Dequantize.run` over a whole byte array.
func dequantize(_ raw: [UInt8], as type: GGMLType) -> [Float] {
    let count = raw.count / type.blockBytes * type.blockSize
    return [Float](unsafeUninitializedCapacity: count) { out, initialized in
        raw.withUnsafeBytes { Dequantize.run(type, from: $0.baseAddress!, count: count, into: out.baseAddress!) }
        initialized = count
    }
}
