/// The classes the GPT-2 pre-tokenizer regex distinguishes: `\p{L}`, `\p{N}`, `\s`, and
/// everything else. An in-range scalar has exactly one of them; an empty set means "past the end
/// of the chunk", which llama.cpp's scanner treats differently from "other".
struct ScalarClass: OptionSet, Sendable {
    let rawValue: UInt8

    static let letter = ScalarClass(rawValue: 1)
    static let number = ScalarClass(rawValue: 2)
    static let whitespace = ScalarClass(rawValue: 4)
    static let other = ScalarClass(rawValue: 8)
    static let outOfRange: ScalarClass = []

    /// Letters are general categories L*, numbers N* (Nd, Nl, No), whitespace the Unicode
    /// White_Space property: the same sets llama.cpp's unicode tables use.
    static func of(_ value: UInt32) -> ScalarClass {
        if value < 128 { return asciiTable[Int(value)] }
        return classify(value)
    }

    private static let asciiTable: [ScalarClass] = (0..<128).map { classify(UInt32($0)) }

    private static func classify(_ value: UInt32) -> ScalarClass {
        guard let scalar = Unicode.Scalar(value) else { return .other }
        let properties = scalar.properties
        if properties.isWhitespace { return .whitespace }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
            return .letter
        case .decimalNumber, .letterNumber, .otherNumber:
            return .number
        default:
            return .other
        }
    }
}
