/// How text is cut into words before BPE merges run inside each word (GGUF
/// `tokenizer.ggml.pre`). Each case reproduces llama.cpp's regex list for that name.
public enum PreTokenizer: String, Sendable, CaseIterable {
    /// llama.cpp's `smollm` (shared with starcoder and others): `\p{N}` first, so every number
    /// character is a word of its own, then the GPT-2 regex inside the pieces between them.
    case smollm
    /// llama.cpp's `gpt-2`: the GPT-2 regex alone.
    case gpt2 = "gpt-2"
    /// llama.cpp's `llama-bpe` (Llama 3): case-insensitive contractions, a letter run may take one
    /// leading non-letter, numbers in runs of up to 3 digits, line breaks kept with punctuation.
    case llama3 = "llama-bpe"
    /// llama.cpp's `qwen2`: the Llama 3 regex with single digits.
    case qwen2

    /// The GGUF names this engine accepts.
    public static var supportedNames: [String] { allCases.map(\.rawValue) }

    /// Splits `text` (all of it) into words, appending each word's byte range.
    func split(_ text: DecodedScalars, byteRanges: inout [Range<Int>]) {
        var pieceEnds: [Int] = []
        pieceEnds.reserveCapacity(text.count / 2 + 1)
        switch self {
        case .gpt2:
            GPT2WordScanner.split(text, chunk: 0..<text.count, pieceEnds: &pieceEnds)
        case .llama3:
            GPT4WordScanner.split(text, chunk: 0..<text.count, maxDigits: 3, pieceEnds: &pieceEnds)
        case .qwen2:
            GPT4WordScanner.split(text, chunk: 0..<text.count, maxDigits: 1, pieceEnds: &pieceEnds)
        case .smollm:
            // The `\p{N}` pass: llama.cpp matches it with std::regex, keeping each match and each
            // stretch between matches as a chunk; the GPT-2 scanner then never sees across them.
            var chunkStart = 0
            for i in 0..<text.count where text.classes[i] == .number {
                if chunkStart < i { GPT2WordScanner.split(text, chunk: chunkStart..<i, pieceEnds: &pieceEnds) }
                pieceEnds.append(i + 1)
                chunkStart = i + 1
            }
            if chunkStart < text.count {
                GPT2WordScanner.split(text, chunk: chunkStart..<text.count, pieceEnds: &pieceEnds)
            }
        }
        var start = 0
        for end in pieceEnds {
            byteRanges.append(text.byteOffsets[start]..<text.byteOffsets[end])
            start = end
        }
    }
}
