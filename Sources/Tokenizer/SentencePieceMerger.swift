/// SentencePiece BPE as llama.cpp runs it for GGUF `tokenizer.ggml.model = llama` (Gemma,
/// Llama 2, Mistral): the text (spaces already escaped to U+2581) starts as one symbol per UTF-8
/// character; the adjacent pair whose concatenation is a token with the highest score (leftmost
/// among equals) is merged until no pair forms a token; a symbol that is not a token is split
/// back along its merges, and what still is not a token becomes byte tokens `<0xXX>`.
struct SentencePieceMerger: Sendable {
    /// Token id by the bytes of its text.
    private let ids: [[UInt8]: Int]
    private let scores: [Float]
    /// The `<0xXX>` token of each byte; -1 when the vocabulary lacks it.
    private let byteTokens: [Int]

    init(ids: [[UInt8]: Int], scores: [Float], byteTokens: [Int]) {
        self.ids = ids
        self.scores = scores
        self.byteTokens = byteTokens
    }

    private struct Symbol {
        var start: Int
        var count: Int
        var previous: Int
        var next: Int
    }

    private struct Bigram {
        let left: Int
        let right: Int
        let score: Float
        let size: Int

        /// Pops first: higher score, then the smaller left index (llama.cpp's comparator).
        func before(_ other: Bigram) -> Bool {
            score != other.score ? score > other.score : left < other.left
        }
    }

    func tokenize(_ text: [UInt8], into output: inout [Int]) {
        guard !text.isEmpty else { return }
        var symbols: [Symbol] = []
        symbols.reserveCapacity(text.count)
        var offset = 0
        while offset < text.count {
            let length = min(Self.utf8Length(text[offset]), text.count - offset)
            symbols.append(Symbol(start: offset, count: length, previous: symbols.count - 1,
                                  next: offset + length == text.count ? -1 : symbols.count + 1))
            offset += length
        }

        var heap: [Bigram] = []
        var reverseMerge: [[UInt8]: (Int, Int)] = [:]
        func string(_ start: Int, _ count: Int) -> [UInt8] {
            Array(text[start ..< start + count])
        }
        func tryAdd(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let merged = string(symbols[left].start, symbols[left].count + symbols[right].count)
            guard let id = ids[merged], id < scores.count else { return }
            push(Bigram(left: left, right: right, score: scores[id], size: symbols[left].count + symbols[right].count))
            reverseMerge[merged] = (left, right)
        }
        func push(_ b: Bigram) {
            heap.append(b)
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard heap[i].before(heap[parent]) else { break }
                heap.swapAt(i, parent)
                i = parent
            }
        }
        func pop() -> Bigram {
            let top = heap[0]
            let last = heap.removeLast()
            if !heap.isEmpty {
                heap[0] = last
                var i = 0
                while true {
                    let l = 2 * i + 1, r = l + 1
                    var best = i
                    if l < heap.count && heap[l].before(heap[best]) { best = l }
                    if r < heap.count && heap[r].before(heap[best]) { best = r }
                    if best == i { break }
                    heap.swapAt(i, best)
                    i = best
                }
            }
            return top
        }

        for i in 1 ..< symbols.count { tryAdd(i - 1, i) }
        while !heap.isEmpty {
            let bigram = pop()
            let left = symbols[bigram.left], right = symbols[bigram.right]
            // A side already merged into something else: this candidate is stale.
            guard left.count > 0, right.count > 0, left.count + right.count == bigram.size else { continue }
            symbols[bigram.left].count += right.count
            symbols[bigram.right].count = 0
            symbols[bigram.left].next = right.next
            if right.next >= 0 { symbols[right.next].previous = bigram.left }
            tryAdd(symbols[bigram.left].previous, bigram.left)
            tryAdd(bigram.left, symbols[bigram.left].next)
        }

        func resegment(_ index: Int) {
            let symbol = symbols[index]
            let piece = string(symbol.start, symbol.count)
            if let id = ids[piece] {
                output.append(id)
                return
            }
            guard let (left, right) = reverseMerge[piece] else {
                for byte in text[symbol.start ..< symbol.start + symbol.count] where byteTokens[Int(byte)] >= 0 {
                    output.append(byteTokens[Int(byte)])
                }
                return
            }
            resegment(left)
            resegment(right)
        }
        var i = 0
        while i != -1 {
            resegment(i)
            i = symbols[i].next
        }
    }

    /// Bytes of the UTF-8 sequence a lead byte starts (1 for a stray continuation byte), as
    /// llama.cpp's `unicode_len_utf8`.
    static func utf8Length(_ lead: UInt8) -> Int {
        let lookup: [Int] = [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4]
        return lookup[Int(lead >> 4)]
    }
}
