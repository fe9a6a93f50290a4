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

    /// Stores up to this many references search with every word of the query; larger ones prune.
    /// (BM25's cost is in the rows that match: FTS5 computes bm25() for every matching row before
    /// it can sort, about 1.5 us each, so a 64-word OR query on 100k references took 300 ms.)
    static let pruneAbove = 2_000
    /// Words in more than this share of the references are dropped from a query on a large store.
    static let commonShare = 0.02
    /// The most words a query keeps on a large store (the rarest ones), and the most references
    /// they may be in together (what the query reads).
    static let maximumPrunedWords = 24
    static let postingBudget = 2_000

    /// The words worth searching for on a store of `references` references: the cost of an OR query
    /// grows with the references each word is in, and BM25 gives a word in many references almost no
    /// weight (its IDF is near 0), so words in over `commonShare` of the references are dropped and the
    /// rarest kept, at most `maximumPrunedWords` of them and `postingBudget` references in all.
    /// Measured with `memory3 bench-retrieval` (docs/retrieval.md): at 100k synthetic references a
    /// 64-word query went from 300 ms to 6 ms (p50), its reference still first 99% of the time.
    /// `frequencies` counts the references each word is in, up to a cap (past it the word is too
    /// common anyway), one count per word in order, all uncached words in one call (a store where
    /// each statement is a round trip to a server counts them in one); counts are cached (`cache`)
    /// until the store grows by a tenth.
    static func pruned(_ words: [String], references: Int, cache: DocumentFrequencyCache,
                       frequencies: (_ words: [String], _ cap: Int) throws -> [Int]) throws -> [String] {
        // Counts above the common share only need to be known as "too common".
        let cap = Int(commonShare * Double(references)) + 1
        var known: [String: Int] = [:]
        var uncounted: [String] = []
        for word in words {
            if let n = cache.frequency(of: word, references: references) { known[word] = n } else { uncounted.append(word) }
        }
        if !uncounted.isEmpty {
            for (word, n) in zip(uncounted, try frequencies(uncounted, cap)) {
                known[word] = n
                cache.record(word, frequency: n, references: references)
            }
        }
        var counted: [(word: String, frequency: Int)] = []
        for word in words {
            let n = known[word] ?? 0
            if n > 0, Double(n) <= commonShare * Double(references) { counted.append((word, n)) }
        }
        var kept: [String] = []
        var postings = 0
        for entry in counted.sorted(by: { $0.frequency != $1.frequency ? $0.frequency < $1.frequency : $0.word < $1.word }) {
            guard kept.count < maximumPrunedWords, kept.isEmpty || postings + entry.frequency <= postingBudget else { break }
            kept.append(entry.word)
            postings += entry.frequency
        }
        return kept
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

    /// A word as one operand of the dialect's query syntax: an FTS5 string, or a tsquery
    /// lexeme in single quotes (embedded quotes doubled, backslashes escaped).
    static func quoted(_ word: String, for dialect: SQLDialect) -> String {
        switch dialect {
        case .sqlite: quoted(word)
        case .postgres: "'" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "''") + "'"
        }
    }

    /// "Any of these words" in the dialect's query syntax (FTS5 MATCH, or `to_tsquery`).
    static func expression(_ words: [String], for dialect: SQLDialect) -> String {
        words.map { quoted($0, for: dialect) }.joined(separator: dialect == .sqlite ? " OR " : " | ")
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

/// Document frequencies of query words, counted once and reused until the store has grown (or
/// shrunk) by a tenth since; bounded (cleared when full).
final class DocumentFrequencyCache: @unchecked Sendable {
    private let lock = NSLock()
    private var entries: [String: (frequency: Int, references: Int)] = [:]
    static let capacity = 200_000

    func frequency(of word: String, references: Int) -> Int? {
        lock.withLock {
            guard let entry = entries[word], abs(references - entry.references) * 10 <= entry.references else { return nil }
            return entry.frequency
        }
    }

    func record(_ word: String, frequency: Int, references: Int) {
        lock.withLock {
            if entries.count >= Self.capacity { entries.removeAll(keepingCapacity: true) }
            entries[word] = (frequency, references)
        }
    }
}
