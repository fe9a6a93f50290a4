/// The byte automaton of a compiled JSON Schema: a stack of frames (one per open value), each a
/// few plain fields, held inline so that a trial copy (one per candidate token) allocates nothing.
/// `feed` takes one byte or refuses it; `completionCost` is the fewest bytes that still finish the
/// value, which lets the constraint close the value before `max_tokens` runs out.
struct JSONSchemaScanner {
    struct Frame {
        enum Kind: UInt8 { case value, object, array, string, number, literal, any }
        var kind: Kind = .value
        /// The grammar node (value, object, array, string, number; a literal's owner, or -1).
        var node: Int32 = -1
        /// Object: 0 open, 1 after a comma, 2 in a key, 3 before the colon, 4 after a value.
        /// Array: 0 open, 1 after a comma, 2 after a value. String: 0 content, 1 escape, 2 \u.
        /// Number: `NumberPart`.
        var phase: UInt8 = 0
        /// Object: next property; array: items begun; string: characters; number: bytes.
        var index: Int32 = 0
        /// Literal or key candidates still matching.
        var alive: UInt64 = 0
        /// Literal: bytes matched, literal set. String: UTF-8 continuation bytes (or hex digits) due.
        var matched: Int32 = 0
        var set: Int32 = -1
        var any = JSONScanner.start(objectOnly: false)
    }

    enum NumberPart: UInt8 { case sign, zero, integer, point, fraction, exponentMark, exponentSign, exponent }

    static let maxFrames = 32
    /// Longest number written (digits a model could otherwise repeat forever).
    static let maxNumberBytes: Int32 = 24

    let grammar: JSONSchemaGrammar
    private var frames = InlineArray<32, Frame>(repeating: Frame())
    private(set) var depth = 0
    private var whitespaceRun: UInt8 = 0

    init(grammar: JSONSchemaGrammar) {
        self.grammar = grammar
        frames[0] = Frame(kind: .value, node: Int32(grammar.root))
        depth = 1
    }

    /// The value is whole: nothing may follow.
    var isComplete: Bool { depth == 0 }

    /// The end may come now: the value is whole, or it is a top-level number that could go on.
    var canEnd: Bool {
        if depth == 0 { return true }
        guard depth == 1 else { return false }
        let top = frames[0]
        switch top.kind {
        case .number: return Self.numberIsComplete(top.phase)
        case .any: return top.any.lex == .done || (top.any.lex == .number && top.any.depth == 0 && top.any.numberIsComplete)
        default: return false
        }
    }

    /// Inside a string with no length limit and no character half written: any token of whole
    /// plain characters continues it.
    var inPlainString: Bool {
        guard depth > 0 else { return false }
        let top = frames[depth - 1]
        switch top.kind {
        case .string:
            guard top.phase == 0, top.matched == 0, case .string(_, nil) = grammar.nodes[Int(top.node)] else { return false }
            return true
        case .any: return top.any.lex == .string
        default: return false
        }
    }

    // MARK: - Feeding

    mutating func feed(_ bytes: [UInt8]) -> Bool {
        for byte in bytes where !feed(byte) { return false }
        return true
    }

    mutating func feed(_ b: UInt8) -> Bool {
        while depth > 0 {
            let i = depth - 1
            switch frames[i].kind {
            case .value:
                if Self.isWhitespace(b) { return whitespace() }
                whitespaceRun = 0
                return begin(node: Int(frames[i].node), with: b)
            case .string: return stringByte(b, at: i)
            case .literal: return literalByte(b, at: i)
            case .number:
                if numberByte(b, at: i) { return true }
                guard Self.numberIsComplete(frames[i].phase) else { return false }
                depth -= 1
                continue
            case .any:
                var scanner = frames[i].any
                if scanner.lex == .done { depth -= 1; continue }
                if scanner.lex == .number && scanner.depth == 0 {
                    var probe = scanner
                    if probe.feed(b) { frames[i].any = probe; return true }
                    guard scanner.numberIsComplete else { return false }
                    depth -= 1
                    continue
                }
                guard scanner.feed(b) else { return false }
                frames[i].any = scanner
                if scanner.lex == .done { depth -= 1 }
                return true
            case .object: return objectByte(b, at: i)
            case .array:
                switch arrayByte(b, at: i) {
                case .taken: return true
                case .refused: return false
                case .item: continue
                }
            }
        }
        return false
    }

    private mutating func whitespace() -> Bool {
        guard whitespaceRun < JSONScanner.maxWhitespaceRun else { return false }
        whitespaceRun += 1
        return true
    }

    private mutating func push(_ frame: Frame) -> Bool {
        guard depth < Self.maxFrames else { return false }
        frames[depth] = frame
        depth += 1
        return true
    }

    /// Replaces the value frame on top with the frame of `node`'s value, begun with `b`.
    private mutating func begin(node: Int, with b: UInt8) -> Bool {
        let i = depth - 1
        switch grammar.nodes[node] {
        case .anyValue:
            var scanner = JSONScanner.start(objectOnly: false)
            guard scanner.feed(b) else { return false }
            frames[i] = Frame(kind: .any, node: Int32(node), any: scanner)
            return true
        case .object:
            guard b == 0x7B else { return false }
            frames[i] = Frame(kind: .object, node: Int32(node))
            return true
        case .array:
            guard b == 0x5B else { return false }
            frames[i] = Frame(kind: .array, node: Int32(node))
            return true
        case .string:
            guard b == 0x22 else { return false }
            frames[i] = Frame(kind: .string, node: Int32(node))
            return true
        case .number:
            frames[i] = Frame(kind: .number, node: Int32(node), phase: NumberPart.sign.rawValue)
            return numberByte(b, at: i)
        case .literals(let set), .tagged(let set, _, _):
            frames[i] = Frame(kind: .literal, node: Int32(node), alive: Self.all(grammar.literalSets[set].count), set: Int32(set))
            return literalByte(b, at: i)
        case .union:
            guard let choice = grammar.unionChoice[node]?[Int(b)], choice >= 0 else { return false }
            return begin(node: Int(choice), with: b)
        }
    }

    private static func all(_ count: Int) -> UInt64 { count >= 64 ? .max : (1 << UInt64(count)) - 1 }

    private mutating func literalByte(_ b: UInt8, at i: Int) -> Bool {
        let literals = grammar.literalSets[Int(frames[i].set)]
        let position = Int(frames[i].matched)
        guard let finished = Self.match(b, at: position, candidates: &frames[i], texts: { literals[$0] }) else { return false }
        guard finished >= 0 else { return true }
        // No literal of a set begins another (checked when compiled), so the match is whole.
        if frames[i].node >= 0, case .tagged(_, let bodies, let suffixes) = grammar.nodes[Int(frames[i].node)] {
            frames[i] = Frame(kind: .literal, node: -1, alive: 1, set: Int32(suffixes[finished]))
            return push(Frame(kind: .value, node: Int32(bodies[finished])))
        }
        depth -= 1
        return true
    }

    /// Keeps the frame's live candidates (bits of `alive`) whose text has `b` at `position`
    /// and counts the byte matched. Nil when none is left; else the candidate whose text this
    /// byte completes, or -1.
    private static func match(_ b: UInt8, at position: Int, candidates frame: inout Frame, texts: (Int) -> [UInt8]) -> Int? {
        var alive: UInt64 = 0, finished = -1
        var rest = frame.alive
        while rest != 0 {
            let c = rest.trailingZeroBitCount
            rest &= rest - 1
            let text = texts(c)
            guard position < text.count, text[position] == b else { continue }
            alive |= 1 << UInt64(c)
            if text.count == position + 1 { finished = c }
        }
        guard alive != 0 else { return nil }
        frame.alive = alive
        frame.matched += 1
        return finished
    }

    private mutating func objectByte(_ b: UInt8, at i: Int) -> Bool {
        guard case .object(let properties) = grammar.nodes[Int(frames[i].node)] else { return false }
        let node = Int(frames[i].node)
        let phase = frames[i].phase, index = Int(frames[i].index)
        if phase == 2 {
            let position = Int(frames[i].matched)
            guard let finished = Self.match(b, at: position, candidates: &frames[i], texts: { properties[$0].key }) else { return false }
            if finished >= 0 {
                frames[i].index = Int32(finished + 1)
                frames[i].phase = 3
            }
            return true
        }
        if Self.isWhitespace(b) { return whitespace() }
        whitespaceRun = 0
        switch (phase, b) {
        case (0, 0x22), (1, 0x22):
            // Candidates: the properties from `index` up to and including the next required one.
            var candidates: UInt64 = 0
            for c in index ..< properties.count {
                candidates |= 1 << UInt64(c)
                if properties[c].required { break }
            }
            guard candidates != 0 else { return false }
            frames[i].alive = candidates
            frames[i].matched = 1
            frames[i].phase = 2
            return true
        case (0, 0x7D), (4, 0x7D):
            guard grammar.restRequired[node][index] == 0 else { return false }
            depth -= 1
            return true
        case (3, 0x3A):
            frames[i].phase = 4
            return push(Frame(kind: .value, node: Int32(properties[index - 1].node)))
        case (4, 0x2C):
            guard index < properties.count else { return false }
            frames[i].phase = 1
            return true
        default:
            return false
        }
    }

    private enum ArrayStep { case taken, refused, item }

    private mutating func arrayByte(_ b: UInt8, at i: Int) -> ArrayStep {
        guard case .array(let items, let minItems, let maxItems) = grammar.nodes[Int(frames[i].node)] else { return .refused }
        if Self.isWhitespace(b) { return whitespace() ? .taken : .refused }
        let phase = frames[i].phase, count = Int(frames[i].index)
        switch phase {
        case 0, 1:
            if phase == 0 && b == 0x5D {
                guard minItems == 0 else { return .refused }
                whitespaceRun = 0
                depth -= 1
                return .taken
            }
            if let maxItems, count >= maxItems { return .refused }
            frames[i].index += 1
            frames[i].phase = 2
            // The byte begins the item: fed again, to the item's frame.
            return push(Frame(kind: .value, node: Int32(items))) ? .item : .refused
        default:
            whitespaceRun = 0
            if b == 0x2C {
                if let maxItems, count >= maxItems { return .refused }
                frames[i].phase = 1
                return .taken
            }
            if b == 0x5D && count >= minItems {
                depth -= 1
                return .taken
            }
            return .refused
        }
    }

    private mutating func stringByte(_ b: UInt8, at i: Int) -> Bool {
        guard case .string(let minLength, let maxLength) = grammar.nodes[Int(frames[i].node)] else { return false }
        let count = Int(frames[i].index)
        let roomForCharacter = maxLength.map { count < $0 } ?? true
        switch frames[i].phase {
        case 1:
            switch b {
            case 0x22, 0x5C, 0x2F, 0x62, 0x66, 0x6E, 0x72, 0x74: frames[i].phase = 0; return true
            case 0x75: frames[i].phase = 2; frames[i].matched = 4; return true
            default: return false
            }
        case 2:
            guard (0x30...0x39).contains(b) || (0x41...0x46).contains(b) || (0x61...0x66).contains(b) else { return false }
            frames[i].matched -= 1
            if frames[i].matched == 0 { frames[i].phase = 0 }
            return true
        default:
            break
        }
        if frames[i].matched > 0 {
            guard b & 0xC0 == 0x80 else { return false }
            frames[i].matched -= 1
            return true
        }
        switch b {
        case 0x22:
            guard count >= minLength else { return false }
            depth -= 1
            return true
        case 0x5C:
            guard roomForCharacter else { return false }
            frames[i].index += 1
            frames[i].phase = 1
            return true
        case 0x20 ..< 0x80:
            guard roomForCharacter else { return false }
            frames[i].index += 1
            return true
        case 0xC2 ... 0xDF, 0xE0 ... 0xEF, 0xF0 ... 0xF4:
            guard roomForCharacter else { return false }
            frames[i].index += 1
            frames[i].matched = b >= 0xF0 ? 3 : b >= 0xE0 ? 2 : 1
            return true
        default:
            return false
        }
    }

    private mutating func numberByte(_ b: UInt8, at i: Int) -> Bool {
        guard case .number(let integer) = grammar.nodes[Int(frames[i].node)], frames[i].index < Self.maxNumberBytes,
              let part = NumberPart(rawValue: frames[i].phase) else { return false }
        let digit = (0x30...0x39).contains(b)
        var next: NumberPart?
        switch part {
        case .sign:
            if b == 0x2D && frames[i].index == 0 { next = .sign }
            else if b == 0x30 { next = .zero }
            else if digit { next = .integer }
        case .zero, .integer:
            if part == .integer && digit { next = .integer }
            else if !integer && b == 0x2E { next = .point }
            else if !integer && (b == 0x65 || b == 0x45) { next = .exponentMark }
        case .point: if digit { next = .fraction }
        case .fraction:
            if digit { next = .fraction }
            else if b == 0x65 || b == 0x45 { next = .exponentMark }
        case .exponentMark:
            if b == 0x2B || b == 0x2D { next = .exponentSign }
            else if digit { next = .exponent }
        case .exponentSign, .exponent: if digit { next = .exponent }
        }
        guard let next else { return false }
        frames[i].phase = next.rawValue
        frames[i].index += 1
        return true
    }

    static func numberIsComplete(_ phase: UInt8) -> Bool {
        guard let part = NumberPart(rawValue: phase) else { return false }
        return part == .zero || part == .integer || part == .fraction || part == .exponent
    }

    private static func isWhitespace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    // MARK: - Cost to finish

    /// The fewest bytes that make the value whole from here (no whitespace).
    var completionCost: Int {
        var total = 0
        for i in 0 ..< depth { total += frameCost(frames[i]) }
        return total
    }

    private func frameCost(_ f: Frame) -> Int {
        let minimum = grammar.minimumBytes
        switch f.kind {
        case .value: return minimum[Int(f.node)]
        case .any: return f.any.completionCost
        case .number: return Self.numberIsComplete(f.phase) ? 0 : 1
        case .string:
            guard case .string(let minLength, _) = grammar.nodes[Int(f.node)] else { return 0 }
            let due = max(0, minLength - Int(f.index)) + 1
            switch f.phase {
            case 1: return 1 + due
            default: return Int(f.matched) + due
            }
        case .literal:
            let literals = grammar.literalSets[Int(f.set)]
            var best = Int.max
            var rest = f.alive
            while rest != 0 {
                let c = rest.trailingZeroBitCount
                rest &= rest - 1
                var cost = literals[c].count - Int(f.matched)
                if f.node >= 0, case .tagged(_, let bodies, let suffixes) = grammar.nodes[Int(f.node)] {
                    cost += minimum[bodies[c]] + grammar.literalSets[suffixes[c]][0].count
                }
                best = min(best, cost)
            }
            return best == .max ? 0 : best
        case .array:
            guard case .array(let items, let minItems, _) = grammar.nodes[Int(f.node)] else { return 0 }
            let item = minimum[items], count = Int(f.index)
            switch f.phase {
            case 0: return minItems == 0 ? 1 : minItems * (item + 1)
            case 1: return item + max(0, minItems - count - 1) * (item + 1) + 1
            default: return max(0, minItems - count) * (item + 1) + 1
            }
        case .object:
            guard case .object(let properties) = grammar.nodes[Int(f.node)] else { return 0 }
            let rest = grammar.restRequired[Int(f.node)], index = Int(f.index)
            switch f.phase {
            case 0: return rest[0] == 0 ? 1 : rest[0]
            case 1:
                if rest[index] > 0 { return rest[index] }
                let cheapest = (index ..< properties.count).map { properties[$0].key.count + 1 + minimum[properties[$0].node] }.min() ?? 0
                return cheapest + 1
            case 2:
                var best = Int.max
                var alive = f.alive
                while alive != 0 {
                    let c = alive.trailingZeroBitCount
                    alive &= alive - 1
                    let p = properties[c]
                    best = min(best, p.key.count - Int(f.matched) + 1 + minimum[p.node] + rest[c + 1] + 1)
                }
                return best == .max ? 0 : best
            case 3: return 1 + minimum[properties[index - 1].node] + rest[index] + 1
            default: return rest[index] + 1
            }
        }
    }
}
