/// GPT-2's reversible byte-to-character mapping. Byte-level BPE vocabularies store every token as
/// a string of these characters, one per byte, so that no token contains raw whitespace or
/// control characters: printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100...
enum ByteLevelEncoding {
    /// The character standing for each byte.
    static let scalarForByte: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            if isPrintable(byte) {
                table[byte] = Unicode.Scalar(UInt32(byte))!
            } else {
                table[byte] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// The inverse mapping, indexed by scalar value (all values are below 324).
    static let byteForScalarValue: [Int16] = {
        var table = [Int16](repeating: -1, count: 324)
        for (byte, scalar) in scalarForByte.enumerated() { table[Int(scalar.value)] = Int16(byte) }
        return table
    }()

    /// The bytes a vocabulary string stands for. Characters outside the mapping (which a
    /// well-formed byte-level vocabulary never has) are kept as their own UTF-8.
    static func bytes(ofTokenText text: String) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            let value = Int(scalar.value)
            if value < byteForScalarValue.count, byteForScalarValue[value] >= 0 {
                out.append(UInt8(byteForScalarValue[value]))
            } else {
                out.append(contentsOf: String(scalar).utf8)
            }
        }
        return out
    }

    /// The vocabulary string for a single byte.
    static func tokenText(ofByte byte: UInt8) -> String {
        String(Character(scalarForByte[Int(byte)]))
    }

    private static func isPrintable(_ byte: Int) -> Bool {
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte) || (0xAE...0xFF).contains(byte)
    }
}
