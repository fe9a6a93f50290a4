import Foundation

/// BERT's uncased tokenizer, as `BertTokenizer(do_lower_case=True)` of Hugging Face transformers
/// tokenizes: clean the text (control characters dropped, whitespace unified), put spaces around
/// CJK ideographs, lower-case, strip accents (NFD, combining marks dropped), split on whitespace and
/// punctuation, then greedy longest-match-first WordPiece per word ("##" marks a continuation; a
/// word with no split, or over 100 characters, is `[UNK]`). `encode` wraps the ids in [CLS] ... [SEP].
public struct WordPieceTokenizer: Sendable {
    public let vocabulary: [String: Int]
    public let unknownId: Int
    public let classId: Int
    public let separatorId: Int
    static let maxCharactersPerWord = 100

    /// `vocab.txt`: one token per line, the line number is its id.
    public init(vocabularyFile path: String) throws(TokenizerError) {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw .invalidVocabulary("cannot read the WordPiece vocabulary \(path)")
        }
        try self.init(tokens: text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: CharacterSet(charactersIn: "\r")) })
    }

    public init(tokens: [String]) throws(TokenizerError) {
        var vocabulary: [String: Int] = [:]
        for (id, token) in tokens.enumerated() where !token.isEmpty && vocabulary[token] == nil { vocabulary[token] = id }
        guard let unknown = vocabulary["[UNK]"], let cls = vocabulary["[CLS]"], let sep = vocabulary["[SEP]"] else {
            throw .invalidVocabulary("the WordPiece vocabulary lacks [UNK], [CLS] or [SEP]")
        }
        self.vocabulary = vocabulary
        self.unknownId = unknown
        self.classId = cls
        self.separatorId = sep
    }

    /// [CLS], the text's word pieces (at most `maxTokens` - 2 of them), [SEP].
    public func encode(_ text: String, maxTokens: Int = 256) -> [Int] {
        var ids = [classId]
        for word in Self.words(text) {
            for id in pieces(word) {
                guard ids.count < maxTokens - 1 else { return ids + [separatorId] }
                ids.append(id)
            }
        }
        return ids + [separatorId]
    }

    /// The basic tokenizer's words: cleaned, lower-cased, accent-stripped, split on whitespace and
    /// punctuation (each punctuation character its own word).
    public static func words(_ text: String) -> [String] {
        var words: [String] = []
        var current = String.UnicodeScalarView()
        func flush() {
            if !current.isEmpty { words.append(String(current)) }
            current = String.UnicodeScalarView()
        }
        let lowered = String(String.UnicodeScalarView(text.unicodeScalars.flatMap { scalar -> [Unicode.Scalar] in
            if scalar.value == 0 || scalar.value == 0xFFFD || isControl(scalar) { return [] }
            if isWhitespace(scalar) { return [" "] }
            return isCJK(scalar) ? [" ", scalar, " "] : [scalar]
        })).lowercased().decomposedStringWithCanonicalMapping
        for scalar in lowered.unicodeScalars {
            if scalar.properties.generalCategory == .nonspacingMark { continue }
            if isWhitespace(scalar) {
                flush()
            } else if isPunctuation(scalar) {
                flush()
                words.append(String(Character(scalar)))
            } else {
                current.append(scalar)
            }
        }
        flush()
        return words
    }

    /// Greedy longest-match-first pieces of one word.
    func pieces(_ word: String) -> [Int] {
        let scalars = Array(word.unicodeScalars)
        guard scalars.count <= Self.maxCharactersPerWord else { return [unknownId] }
        var ids: [Int] = []
        var start = 0
        while start < scalars.count {
            var end = scalars.count
            var found: Int?
            while start < end {
                var piece = String(String.UnicodeScalarView(scalars[start ..< end]))
                if start > 0 { piece = "##" + piece }
                if let id = vocabulary[piece] {
                    found = id
                    break
                }
                end -= 1
            }
            guard let id = found else { return [unknownId] }
            ids.append(id)
            start = end
        }
        return ids
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == " " || s == "\t" || s == "\n" || s == "\r" || s.properties.generalCategory == .spaceSeparator
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33 ... 47).contains(v) || (58 ... 64).contains(v) || (91 ... 96).contains(v) || (123 ... 126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        return (0x4E00 ... 0x9FFF).contains(v) || (0x3400 ... 0x4DBF).contains(v) || (0x20000 ... 0x2A6DF).contains(v)
            || (0x2A700 ... 0x2B73F).contains(v) || (0x2B740 ... 0x2B81F).contains(v) || (0x2B820 ... 0x2CEAF).contains(v)
            || (0xF900 ... 0xFAFF).contains(v) || (0x2F800 ... 0x2FA1F).contains(v)
    }
}
