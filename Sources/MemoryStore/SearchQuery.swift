import Foundation

/// Turns free text into an FTS5 MATCH expression that can only mean "any of these words".
///
/// User text never reaches FTS5's query syntax: it is split into words here (runs of letters, marks,
/// digits and private-use characters, the characters FTS5's unicode61 tokenizer keeps), each word
/// becomes an FTS5 string ("..." with any quote doubled), and the strings are joined with OR. So
/// `NEAR`, `AND`, `NOT`, `text:`, `*`, `^`, parentheses and quotes are either dropped as separators
/// or searched for as plain words.
enum SearchQuery {
    /// Upper bound on distinct words per query, to bound the cost of one search.
    static let maximumWords = 64

    /// The words of `text`, lower-cased, first occurrence first, without repeats.
    static func words(in text: String) -> [String] {
        var words: [String] = []
        var seen: Set<String> = []
        var current = String.UnicodeScalarView()

        func flush() {
            guard !current.isEmpty else { return }
            let word = String(current).lowercased()
            current = String.UnicodeScalarView()
            if words.count < maximumWords, seen.insert(word).inserted {
                words.append(word)
            }
        }

        for scalar in text.unicodeScalars {
            if isWordScalar(scalar) {
                current.append(scalar)
            } else {
                flush()
            }
        }
        flush()
        return words
    }

    /// The MATCH expression for `text`, or nil when it has no words.
    static func matchExpression(for text: String) -> String? {
        let words = words(in: text)
        guard !words.isEmpty else { return nil }
        return words.map(quoted).joined(separator: " OR ")
    }

    /// An FTS5 string: wrapped in double quotes, embedded double quotes doubled.
    static func quoted(_ word: String) -> String {
        "\"" + word.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .nonspacingMark, .spacingMark, .enclosingMark,
             .decimalNumber, .letterNumber, .otherNumber,
             .privateUse:
            return true
        default:
            return false
        }
    }
}
