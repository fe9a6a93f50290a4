/// The GPT-2 pre-tokenizer regex
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// as a hand-written scanner, step for step the way llama.cpp's `unicode_regex_split_custom_gpt2`
/// runs it, because its token ids are the reference. Its quirks matter: contractions are
/// lowercase only; the optional space is U+0020 only; and `\s+(?!\S)` gives back one whitespace
/// character only when more than one whitespace precedes something inside the same chunk, so a
/// run at the very end of a chunk stays whole.
enum GPT2WordScanner {
    /// Cuts the scalars `chunk` into pieces, appending each piece's end (a scalar index).
    static func split(_ text: DecodedScalars, chunk: Range<Int>, pieceEnds: inout [Int]) {
        let end = chunk.upperBound
        let values = text.values
        let classes = text.classes
        @inline(__always) func classAt(_ i: Int) -> ScalarClass { i < end ? classes[i] : .outOfRange }

        var pos = chunk.lowerBound
        while pos < end {
            let scalar = values[pos]

            // 's 't 'm 'd 're 've 'll
            if scalar == apostrophe, pos + 1 < end {
                let next = values[pos + 1]
                if next == ascii("s") || next == ascii("t") || next == ascii("m") || next == ascii("d") {
                    pos += 2
                    pieceEnds.append(pos)
                    continue
                }
                if pos + 2 < end {
                    let nextNext = values[pos + 2]
                    if (next == ascii("r") && nextNext == ascii("e")) || (next == ascii("v") && nextNext == ascii("e"))
                        || (next == ascii("l") && nextNext == ascii("l")) {
                        pos += 3
                        pieceEnds.append(pos)
                        continue
                    }
                }
            }

            // ` ?\p{L}+`, ` ?\p{N}+`, ` ?[^\s\p{L}\p{N}]+`: the class after an optional space.
            let runClass = scalar == space ? classAt(pos + 1) : classes[pos]
            if runClass == .letter || runClass == .number || runClass == .other {
                if scalar == space { pos += 1 }
                while classAt(pos) == runClass { pos += 1 }
                pieceEnds.append(pos)
                continue
            }

            var whitespaceCount = 0
            while classAt(pos + whitespaceCount) == .whitespace { whitespaceCount += 1 }
            if whitespaceCount > 1 && pos + whitespaceCount < end {
                // `\s+(?!\S)`: leave the last whitespace to prefix what follows.
                pos += whitespaceCount - 1
            } else if whitespaceCount > 0 {
                pos += whitespaceCount
            } else {
                pos += 1
            }
            pieceEnds.append(pos)
        }
    }

    private static let apostrophe = ascii("'")
    private static let space = ascii(" ")

    @inline(__always) private static func ascii(_ character: Unicode.Scalar) -> UInt32 { character.value }
}
