import Synchronization
import Tokenizer

/// Restricts sampling so that the generated text is one JSON value: an object
/// (`response_format: json_object`) or an instance of a schema (`json_schema`, tool calls).
/// Before each token, every token whose bytes could not extend the text so far is masked out;
/// once the value is complete, only the end of generation may follow. When the tokens left
/// (`max_tokens`) come down to what the shortest way to finish needs, only tokens that bring
/// the end nearer are allowed, so the value closes before the budget runs out.
public final class JSONConstraint: @unchecked Sendable {
    let table: JSONTokenTable
    private var automaton: Automaton
    /// The masked logits are built here and swapped with the caller's array, so a step allocates
    /// nothing once the first has sized it.
    private var scratch: [Float] = []

    enum Automaton {
        case object(JSONScanner)
        case schema(JSONSchemaScanner)
    }

    /// Any JSON object.
    public init(table: JSONTokenTable) {
        self.table = table
        automaton = .object(JSONScanner.start(objectOnly: true))
    }

    /// An instance of `grammar` (a compiled JSON Schema or a tool call). When `optional`, the
    /// text may instead be free: a first token that does not begin the value (its first
    /// non-blank byte is not one the value may begin with) lifts the constraint (tool_choice
    /// "auto": a call or a plain answer).
    public init(table: JSONTokenTable, grammar: JSONSchemaGrammar, optional: Bool = false) {
        self.table = table
        automaton = .schema(JSONSchemaScanner(grammar: grammar))
        undecided = optional
        valueStarts = grammar.firstBytes(grammar.root)
    }

    /// Optional and only blanks written so far.
    private var undecided = false
    /// The text turned out free: nothing is masked any more.
    private var lifted = false
    private var valueStarts: Set<UInt8> = []

    /// The value is complete: generation must end.
    public var isComplete: Bool {
        if lifted { return false }
        switch automaton {
        case .object(let scanner): return scanner.isComplete
        case .schema(let scanner): return scanner.isComplete
        }
    }

    /// Sets the logits of tokens that cannot come next to -infinity (end-of-generation tokens
    /// unless the value may end here). `remainingTokens`: how many tokens may still be generated,
    /// this one included.
    public func mask(_ logits: inout [Float], endOfGeneration: Set<Int>, remainingTokens: Int = .max) {
        if lifted { return }
        if scratch.count != logits.count { scratch = [Float](repeating: -.infinity, count: logits.count) }
        switch automaton {
        case .object(let scanner): Self.mask(scanner, table: table, logits: logits, into: &scratch, endOfGeneration: endOfGeneration, remaining: remainingTokens)
        case .schema(let scanner): Self.mask(scanner, table: table, logits: logits, into: &scratch, endOfGeneration: endOfGeneration, remaining: remainingTokens)
        }
        if undecided {
            // Free text may start here too: any token whose first non-blank byte cannot begin the value.
            for (i, bytes) in table.tokens.enumerated() where i < logits.count && scratch[i] == -.infinity {
                if let first = bytes.first(where: { !Self.isBlank($0) }), !valueStarts.contains(first) { scratch[i] = logits[i] }
            }
            for i in endOfGeneration where i < logits.count { scratch[i] = logits[i] }
        }
        swap(&logits, &scratch)
    }

    private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    /// The chosen token's bytes go into the automaton (they were allowed by `mask`).
    public func advance(token: Int) {
        guard !lifted, token >= 0, token < table.tokens.count else { return }
        if undecided, let first = table.tokens[token].first(where: { !Self.isBlank($0) }) {
            undecided = false
            if !valueStarts.contains(first) {
                lifted = true
                return
            }
        }
        switch automaton {
        case .object(var scanner):
            _ = scanner.feed(table.tokens[token])
            automaton = .object(scanner)
        case .schema(var scanner):
            _ = scanner.feed(table.tokens[token])
            automaton = .schema(scanner)
        }
    }

    private static func mask<A: ByteAutomaton>(_ state: A, table: JSONTokenTable, logits: [Float], into out: inout [Float],
                                                endOfGeneration: Set<Int>, remaining: Int) {
        out.withUnsafeMutableBufferPointer { $0.update(repeating: -.infinity) }
        if state.canEnd {
            for i in endOfGeneration where i < logits.count { out[i] = logits[i] }
        }
        if state.isComplete { return }
        // Close in time: with no more tokens left than the shortest finish needs (plus one),
        // every token must bring the end strictly nearer.
        let cost = state.completionCost
        let closing = remaining <= cost + 1
        if closing && state.canEnd { return }
        let plainString = !closing && state.inPlainString
        let plain = A.wholeCharactersOnly ? table.plainWholeCharacters : table.plainStringContent
        var allowed = 0
        // Closing: only the tokens that bring the end nearest (most bytes of the shortest finish
        // in one token), so the fewest tokens finish the value.
        var bestDrop = 0
        for first in 0 ..< 256 {
            var probe = state
            guard probe.feed(UInt8(first)) else { continue }
            for i in table.byFirstByte[first] where i < logits.count {
                if plainString && plain[i] {
                    out[i] = logits[i]
                    allowed += 1
                    continue
                }
                var trial = state
                guard trial.feed(table.tokens[i]) else { continue }
                if closing {
                    let drop = cost - trial.completionCost
                    guard drop > 0, drop >= bestDrop else { continue }
                    if drop > bestDrop {
                        // A longer step: the shorter ones found so far are out.
                        out.withUnsafeMutableBufferPointer { $0.update(repeating: -.infinity) }
                        if state.canEnd { for e in endOfGeneration where e < logits.count { out[e] = logits[e] } }
                        bestDrop = drop
                        allowed = 0
                    }
                }
                out[i] = logits[i]
                allowed += 1
            }
        }
        if closing && allowed == 0 {
            // The cost estimate found no step down (it is exact for schemas, a bound for the
            // plain JSON scanner): any token that keeps the value valid.
            mask(state, table: table, logits: logits, into: &out, endOfGeneration: endOfGeneration, remaining: .max)
        }
    }
}

/// What `JSONConstraint` needs of a byte automaton.
protocol ByteAutomaton {
    mutating func feed(_ byte: UInt8) -> Bool
    mutating func feed(_ bytes: [UInt8]) -> Bool
    var isComplete: Bool { get }
    var canEnd: Bool { get }
    var inPlainString: Bool { get }
    var completionCost: Int { get }
    /// Whether the plain-string shortcut takes only tokens of whole UTF-8 characters (the schema
    /// scanner counts characters and checks UTF-8; the plain scanner does neither).
    static var wholeCharactersOnly: Bool { get }
}

extension JSONSchemaScanner: ByteAutomaton {
    static var wholeCharactersOnly: Bool { true }
}

extension JSONScanner: ByteAutomaton {
    static var wholeCharactersOnly: Bool { false }
    var isComplete: Bool { lex == .done }
    var canEnd: Bool { lex == .done }
    var inPlainString: Bool { lex == .string }

    /// Fewest bytes that finish the document from here: the open token, then one closer per
    /// open container.
    var completionCost: Int {
        let open: Int
        switch lex {
        case .start: open = objectOnly ? 2 : 1
        case .value: open = 1
        case .valueOrEnd, .keyOrEnd, .afterValue, .done: open = 0
        case .key: open = 4
        case .colon: open = 2
        case .string: open = 1 + (stringIsKey ? 2 : 0)
        case .escape: open = 2 + (stringIsKey ? 2 : 0)
        case .unicode: open = Int(hexLeft) + 1 + (stringIsKey ? 2 : 0)
        case .number: open = numberIsComplete ? 0 : 1
        case .literal: open = Self.literals[Int(literal)].count - Int(literalIndex)
        }
        return open + Int(depth)
    }
}

/// Each token's bytes, and whether they are plain string content (no quote, backslash or
/// control byte), computed once per tokenizer.
public final class JSONTokenTable: Sendable {
    let tokens: [[UInt8]]
    let plainStringContent: [Bool]
    /// Plain string content made of whole UTF-8 characters.
    let plainWholeCharacters: [Bool]
    /// Token ids by their first byte (tokens without text bytes are in none).
    let byFirstByte: [[Int]]

    public init(tokenizer: Tokenizer) {
        var tokens: [[UInt8]] = []
        tokens.reserveCapacity(tokenizer.vocabularySize)
        let ends = tokenizer.endOfGenerationIds
        for id in 0 ..< tokenizer.vocabularySize {
            // Control and end-of-generation tokens (<|im_end|>, <eos>) are not text.
            tokens.append(tokenizer.isControl(id) || ends.contains(id) ? [] : tokenizer.tokenBytes(id))
        }
        self.tokens = tokens
        let plain = tokens.map { bytes in !bytes.isEmpty && bytes.allSatisfy { $0 >= 0x20 && $0 != 0x22 && $0 != 0x5C } }
        plainStringContent = plain
        plainWholeCharacters = zip(plain, tokens).map { $0 && String(validating: $1, as: UTF8.self) != nil }
        var groups = [[Int]](repeating: [], count: 256)
        for (id, bytes) in tokens.enumerated() {
            if let first = bytes.first { groups[Int(first)].append(id) }
        }
        byFirstByte = groups
    }
}

/// The character-level JSON automaton (RFC 8259), as a value.
struct JSONScanner {
    enum Lex: UInt8 {
        /// Before the top-level value.
        case start
        /// A value must come (after `:`, `,` in an array, or `[`).
        case value
        /// After `[`: a value or `]`.
        case valueOrEnd
        /// After `{`: a key or `}`.
        case keyOrEnd
        /// After `,` in an object.
        case key
        /// After a key: `:`.
        case colon
        /// After a value inside a container: `,` or the container's end.
        case afterValue
        case string, escape, unicode
        /// Inside a number; `number` says where.
        case number
        /// Inside true/false/null; `literal` and `literalIndex` say where.
        case literal
        /// The top-level value is complete.
        case done
    }

    enum NumberPart: UInt8 { case sign, zero, integer, point, fraction, exponentMark, exponentSign, exponent }

    static let literals: [[UInt8]] = [Array("true".utf8), Array("false".utf8), Array("null".utf8)]
    static let maxDepth = 63
    /// Whitespace bytes in a row before more are refused (a model can otherwise loop on newlines).
    static let maxWhitespaceRun = 8

    var lex: Lex
    /// Open containers, innermost in bit 0: 1 object, 0 array.
    var containers: UInt64 = 0
    var depth: UInt8 = 0
    /// The string being read is an object key.
    var stringIsKey = false
    var hexLeft: UInt8 = 0
    var number = NumberPart.sign
    var literal: UInt8 = 0
    var literalIndex: UInt8 = 0
    var whitespaceRun: UInt8 = 0
    let objectOnly: Bool

    static func start(objectOnly: Bool) -> JSONScanner { JSONScanner(lex: .start, objectOnly: objectOnly) }

    var inObject: Bool { depth > 0 && containers & 1 == 1 }

    /// Feeds bytes; false (the state then undefined) when they cannot continue valid JSON.
    mutating func feed(_ bytes: [UInt8]) -> Bool {
        for byte in bytes where !feed(byte) { return false }
        return true
    }

    private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    mutating func feed(_ b: UInt8) -> Bool {
        switch lex {
        case .string:
            if b == 0x22 { return endString() }
            if b == 0x5C { lex = .escape; return true }
            return b >= 0x20
        case .escape:
            switch b {
            case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: lex = .string; return true
            case 0x75: lex = .unicode; hexLeft = 4; return true
            default: return false
            }
        case .unicode:
            guard (0x30...0x39).contains(b) || (0x41...0x46).contains(b) || (0x61...0x66).contains(b) else { return false }
            hexLeft -= 1
            if hexLeft == 0 { lex = .string }
            return true
        case .number:
            if continueNumber(b) { return true }
            guard numberIsComplete else { return false }
            valueEnded()
            return feed(b)
        case .literal:
            let word = Self.literals[Int(literal)]
            guard b == word[Int(literalIndex)] else { return false }
            literalIndex += 1
            if Int(literalIndex) == word.count { valueEnded() }
            return true
        default:
            break
        }
        if Self.isWhitespace(b) {
            guard lex != .done, whitespaceRun < Self.maxWhitespaceRun else { return false }
            whitespaceRun += 1
            return true
        }
        whitespaceRun = 0
        switch lex {
        case .start:
            if objectOnly { return b == 0x7B && open(object: true) }
            return beginValue(b)
        case .value:
            return beginValue(b)
        case .valueOrEnd:
            if b == 0x5D { return close(object: false) }
            return beginValue(b)
        case .keyOrEnd, .key:
            if b == 0x7D && lex == .keyOrEnd { return close(object: true) }
            guard b == 0x22 else { return false }
            lex = .string
            stringIsKey = true
            return true
        case .colon:
            guard b == 0x3A else { return false }
            lex = .value
            return true
        case .afterValue:
            if b == 0x2C { lex = inObject ? .key : .value; return true }
            if b == 0x7D { return inObject && close(object: true) }
            if b == 0x5D { return !inObject && close(object: false) }
            return false
        default:
            return false
        }
    }

    private mutating func beginValue(_ b: UInt8) -> Bool {
        switch b {
        case 0x7B: return open(object: true)
        case 0x5B: return open(object: false)
        case 0x22:
            lex = .string
            stringIsKey = false
            return true
        case 0x2D: lex = .number; number = .sign; return true
        case 0x30: lex = .number; number = .zero; return true
        case 0x31...0x39: lex = .number; number = .integer; return true
        case 0x74, 0x66, 0x6E:
            lex = .literal
            literal = b == 0x74 ? 0 : b == 0x66 ? 1 : 2
            literalIndex = 1
            return true
        default: return false
        }
    }

    private mutating func open(object: Bool) -> Bool {
        guard Int(depth) < Self.maxDepth else { return false }
        containers = containers << 1 | (object ? 1 : 0)
        depth += 1
        lex = object ? .keyOrEnd : .valueOrEnd
        return true
    }

    private mutating func close(object: Bool) -> Bool {
        guard depth > 0, (containers & 1 == 1) == object else { return false }
        containers >>= 1
        depth -= 1
        valueEnded()
        return true
    }

    private mutating func endString() -> Bool {
        if stringIsKey {
            stringIsKey = false
            lex = .colon
        } else {
            valueEnded()
        }
        return true
    }

    private mutating func valueEnded() {
        lex = depth == 0 ? .done : .afterValue
    }

    var numberIsComplete: Bool {
        number == .zero || number == .integer || number == .fraction || number == .exponent
    }

    private mutating func continueNumber(_ b: UInt8) -> Bool {
        let digit = (0x30...0x39).contains(b)
        switch number {
        case .sign:
            if b == 0x30 { number = .zero; return true }
            if digit { number = .integer; return true }
            return false
        case .zero, .integer:
            if number == .integer && digit { return true }
            if b == 0x2E { number = .point; return true }
            if b == 0x65 || b == 0x45 { number = .exponentMark; return true }
            return false
        case .point:
            if digit { number = .fraction; return true }
            return false
        case .fraction:
            if digit { return true }
            if b == 0x65 || b == 0x45 { number = .exponentMark; return true }
            return false
        case .exponentMark:
            if b == 0x2B || b == 0x2D { number = .exponentSign; return true }
            if digit { number = .exponent; return true }
            return false
        case .exponentSign:
            if digit { number = .exponent; return true }
            return false
        case .exponent:
            return digit
        }
    }
}
