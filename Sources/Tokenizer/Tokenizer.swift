/// A tokenizer that produces the same token ids as llama.cpp for the two GGUF tokenizer models
/// this engine reads: special tokens are cut out first, then
/// - byte-level BPE (`tokenizer.ggml.model = gpt2`: SmolLM2, Qwen, Llama 3): the text is
///   pre-tokenized into words and each word merged from its bytes by merge rank;
/// - SentencePiece BPE (`llama`: Gemma, Llama 2): spaces become U+2581 and the text is merged
///   from its characters by token score, with byte tokens for what no token covers.
public struct Tokenizer: Sendable {
    /// How plain text becomes tokens.
    public enum Model: Sendable, Equatable {
        case bytePairs(PreTokenizer)
        /// `addSpacePrefix`: a space goes before text that starts the input or follows a special
        /// token (GGUF `tokenizer.ggml.add_space_prefix`).
        case sentencePiece(addSpacePrefix: Bool)
    }

    public let eosTokenId: Int
    public let bosTokenId: Int?
    /// Whether `encode` starts with the BOS token (GGUF `tokenizer.ggml.add_bos_token`).
    public let addsBOS: Bool
    public let model: Model
    /// Tokens that end a generated reply: EOS plus `<|im_end|>` and `<|endoftext|>` if present.
    public let endOfGenerationIds: Set<Int>

    private let tokenTexts: [String]
    private let tokenTypes: [TokenType]
    /// Token id by the UTF-8 bytes of its vocabulary string. Bytes, not `String`: Swift compares
    /// strings by canonical equivalence, and vocabularies hold canonically equal strings as
    /// different tokens (Gemma: ';' U+003B and U+037E GREEK QUESTION MARK).
    private let idForText: [[UInt8]: Int]
    /// The bytes each token stands for, all tokens back to back; token `i` is
    /// `tokenByteStorage[tokenByteOffsets[i] ..< tokenByteOffsets[i + 1]]`.
    private let tokenByteStorage: [UInt8]
    private let tokenByteOffsets: [Int]
    private let merger: BPEMerger?
    private let pieces: SentencePieceMerger?
    private let specialTokens: SpecialTokenPartition

    /// A byte-level BPE tokenizer from vocabulary arrays as GGUF stores them. `tokenTypes` may be
    /// empty (every token normal); `merges` are "left right" strings in rank order. Merges whose
    /// parts or result are not in the vocabulary are ignored (a well-formed vocabulary has none).
    public init(
        tokens: [String], tokenTypes: [Int], merges: [String], preTokenizer: PreTokenizer,
        bosTokenId: Int?, eosTokenId: Int, addBOS: Bool
    ) throws {
        try self.init(tokens: tokens, tokenTypes: tokenTypes, model: .bytePairs(preTokenizer), merges: merges, scores: [],
                      bosTokenId: bosTokenId, eosTokenId: eosTokenId, addBOS: addBOS)
    }

    /// A SentencePiece tokenizer from vocabulary arrays as GGUF stores them (`scores`: one per
    /// token, higher merges first).
    public init(
        sentencePieceTokens tokens: [String], scores: [Float], tokenTypes: [Int], addSpacePrefix: Bool,
        bosTokenId: Int?, eosTokenId: Int, addBOS: Bool
    ) throws {
        guard scores.count == tokens.count else {
            throw TokenizerError.invalidVocabulary("\(tokens.count) tokens but \(scores.count) scores")
        }
        try self.init(tokens: tokens, tokenTypes: tokenTypes, model: .sentencePiece(addSpacePrefix: addSpacePrefix), merges: [],
                      scores: scores, bosTokenId: bosTokenId, eosTokenId: eosTokenId, addBOS: addBOS)
    }

    private init(
        tokens: [String], tokenTypes: [Int], model: Model, merges: [String], scores: [Float],
        bosTokenId: Int?, eosTokenId: Int, addBOS: Bool
    ) throws {
        guard !tokens.isEmpty else { throw TokenizerError.invalidVocabulary("the vocabulary is empty") }
        guard tokenTypes.isEmpty || tokenTypes.count == tokens.count else {
            throw TokenizerError.invalidVocabulary("\(tokens.count) tokens but \(tokenTypes.count) token types")
        }
        guard tokens.indices.contains(eosTokenId) else {
            throw TokenizerError.invalidVocabulary("EOS token id \(eosTokenId) is outside the vocabulary of \(tokens.count)")
        }
        if let bos = bosTokenId, !tokens.indices.contains(bos) {
            throw TokenizerError.invalidVocabulary("BOS token id \(bos) is outside the vocabulary of \(tokens.count)")
        }
        var types: [TokenType] = []
        types.reserveCapacity(tokens.count)
        for (id, raw) in tokenTypes.enumerated() {
            guard let type = TokenType(rawValue: raw) else {
                throw TokenizerError.invalidVocabulary("token \(id) has unknown token type \(raw)")
            }
            types.append(type)
        }
        if types.isEmpty { types = Array(repeating: .normal, count: tokens.count) }

        var idForText: [[UInt8]: Int] = [:]
        idForText.reserveCapacity(tokens.count)
        var storage: [UInt8] = []
        var offsets: [Int] = [0]
        offsets.reserveCapacity(tokens.count + 1)
        var specialCandidates: [SpecialTokenPartition.Candidate] = []
        var byteTokens = [Int](repeating: -1, count: 256)
        for (id, text) in tokens.enumerated() {
            idForText[Array(text.utf8)] = id  // a duplicated text resolves to its last id, as in llama.cpp
            let type = types[id]
            switch model {
            case .bytePairs:
                storage.append(contentsOf: type.hasLiteralText ? Array(text.utf8) : ByteLevelEncoding.bytes(ofTokenText: text))
            case .sentencePiece:
                if type == .byte, let byte = Self.byteTokenValue(text) {
                    storage.append(byte)
                    if byteTokens[Int(byte)] < 0 { byteTokens[Int(byte)] = id }
                } else if type == .normal {
                    storage.append(contentsOf: Self.unescapingSpaces(Array(text.utf8)))
                } else {
                    storage.append(contentsOf: Array(text.utf8))
                }
            }
            offsets.append(storage.count)
            if type == .control || type == .userDefined || type == .unknown {
                specialCandidates.append(.init(id: id, bytes: Array(text.utf8), onlyWhenParsingSpecial: type != .userDefined))
            }
        }

        switch model {
        case .bytePairs:
            let bytes = (0...255).map { idForText[Array(ByteLevelEncoding.tokenText(ofByte: UInt8($0)).utf8)] ?? -1 }
            var rules: [BPEMerger.Rule] = []
            rules.reserveCapacity(merges.count)
            for (rank, merge) in merges.enumerated() {
                // llama.cpp splits at the first space after the first byte, so a merge may start
                // with a space character.
                let utf8 = merge.utf8
                guard let space = utf8.dropFirst().firstIndex(of: 0x20) else { continue }
                let left = Array(utf8[..<space]), right = Array(utf8[utf8.index(after: space)...])
                guard let leftId = idForText[left], let rightId = idForText[right],
                      let mergedId = idForText[left + right] else { continue }
                rules.append(.init(left: leftId, right: rightId, merged: mergedId, rank: rank))
            }
            self.merger = BPEMerger(rules: rules, byteTokens: bytes)
            self.pieces = nil
        case .sentencePiece:
            self.merger = nil
            self.pieces = SentencePieceMerger(ids: idForText, scores: scores, byteTokens: byteTokens)
        }

        self.model = model
        self.tokenTexts = tokens
        self.tokenTypes = types
        self.idForText = idForText
        self.tokenByteStorage = storage
        self.tokenByteOffsets = offsets
        self.specialTokens = SpecialTokenPartition(candidates: specialCandidates)
        self.eosTokenId = eosTokenId
        self.bosTokenId = bosTokenId
        self.addsBOS = addBOS
        var endIds: Set<Int> = [eosTokenId]
        for text in ["<|im_end|>", "<|endoftext|>", "<end_of_turn>", "<|eot_id|>"] { if let id = idForText[Array(text.utf8)] { endIds.insert(id) } }
        self.endOfGenerationIds = endIds
    }

    /// U+2581 (SentencePiece's space) back to spaces.
    static func unescapingSpaces(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        while i < bytes.count {
            if i + 2 < bytes.count && bytes[i] == 0xE2 && bytes[i + 1] == 0x96 && bytes[i + 2] == 0x81 {
                out.append(0x20)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return out
    }

    /// The byte of a SentencePiece byte token `<0xAB>`.
    static func byteTokenValue(_ text: String) -> UInt8? {
        guard text.count == 6, text.hasPrefix("<0x"), text.hasSuffix(">") else { return nil }
        return UInt8(text.dropFirst(3).prefix(2), radix: 16)
    }

    public var vocabularySize: Int { tokenTexts.count }

    /// The pre-tokenizer of a byte-level BPE vocabulary (nil for SentencePiece).
    public var preTokenizer: PreTokenizer? {
        if case .bytePairs(let pre) = model { return pre }
        return nil
    }

    /// Token ids for `text`. With `parseSpecial`, control-token texts such as `<|im_start|>`
    /// become their single ids; without it they are tokenized as plain text. Starts with BOS
    /// when the vocabulary asks for it (`addBOS` overrides). A byte the vocabulary has no token
    /// for is dropped, as llama.cpp drops it (SmolLM2 lacks 04 06 13 14 16 1D F1 F2).
    public func encode(_ text: String, parseSpecial: Bool = true, addBOS: Bool? = nil) -> [Int] {
        var output: [Int] = []
        if addBOS ?? addsBOS, let bos = bosTokenId { output.append(bos) }
        let utf8 = Array(text.utf8)
        output.reserveCapacity(utf8.count / 3 + 4)
        utf8.withUnsafeBufferPointer { bytes in
            var scalars = DecodedScalars()
            var scratch = BPEMerger.Scratch()
            var words: [Range<Int>] = []
            var previousWasSpecial = true
            for fragment in specialTokens.partition(bytes, parseSpecial: parseSpecial) {
                switch fragment {
                case .token(let id):
                    output.append(id)
                    previousWasSpecial = true
                case .text(let range):
                    switch model {
                    case .bytePairs(let preTokenizer):
                        scalars.decode(bytes, range: range)
                        words.removeAll(keepingCapacity: true)
                        preTokenizer.split(scalars, byteRanges: &words)
                        for word in words {
                            merger!.merge(UnsafeBufferPointer(rebasing: bytes[word]), into: &output, scratch: &scratch)
                        }
                    case .sentencePiece(let addSpacePrefix):
                        var piece: [UInt8] = addSpacePrefix && previousWasSpecial ? [0x20] : []
                        piece += bytes[range]
                        pieces!.tokenize(Self.escapingSpaces(piece), into: &output)
                    }
                    previousWasSpecial = false
                }
            }
        }
        return output
    }

    /// Spaces as U+2581 (SentencePiece's space), as SentencePiece reads text (llama.cpp's
    /// `llama_escape_whitespace`).
    static func escapingSpaces(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + bytes.count / 4)
        for b in bytes {
            if b == 0x20 { out += [0xE2, 0x96, 0x81] } else { out.append(b) }
        }
        return out
    }

    /// The text of `ids`. Control tokens appear as their text, so `decode(encode(s)) == s` for
    /// any text whose bytes all have a token (see `encode`); bytes that do not form valid UTF-8
    /// become U+FFFD. Ids outside the vocabulary are skipped.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(ids.count * 4)
        for id in ids where tokenTexts.indices.contains(id) {
            bytes.append(contentsOf: tokenByteStorage[tokenByteOffsets[id]..<tokenByteOffsets[id + 1]])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The bytes token `id` stands for (possibly part of a UTF-8 sequence); empty for an id
    /// outside the vocabulary.
    public func tokenBytes(_ id: Int) -> [UInt8] {
        guard tokenTexts.indices.contains(id) else { return [] }
        return Array(tokenByteStorage[tokenByteOffsets[id]..<tokenByteOffsets[id + 1]])
    }

    /// The token's vocabulary string as stored (byte-level characters for normal tokens).
    public func tokenText(_ id: Int) -> String? {
        tokenTexts.indices.contains(id) ? tokenTexts[id] : nil
    }

    public func tokenType(_ id: Int) -> TokenType? {
        tokenTypes.indices.contains(id) ? tokenTypes[id] : nil
    }

    public func isControl(_ id: Int) -> Bool { tokenType(id) == .control }

    /// The id whose vocabulary string is exactly `tokenText` (e.g. "<|im_end|>" or "Ġthe").
    public func id(of tokenText: String) -> Int? { idForText[Array(tokenText.utf8)] }
}
