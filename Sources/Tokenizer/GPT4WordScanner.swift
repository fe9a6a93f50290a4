/// The pre-tokenizer regex of Llama 3 (and, with single digits, Qwen2)
/// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
/// as a hand-written scanner, step for step the way llama.cpp's
/// `unicode_regex_split_custom_llama3` / `_qwen2` run it (their ids are the reference).
enum GPT4WordScanner {
    /// Cuts the scalars `chunk` into pieces, appending each piece's end (a scalar index); numbers
    /// are cut into runs of at most `maxDigits`.
    static func split(_ text: DecodedScalars, chunk: Range<Int>, maxDigits: Int, pieceEnds: inout [Int]) {
        let end = chunk.upperBound
        let values = text.values
        let classes = text.classes
        @inline(__always) func classAt(_ i: Int) -> ScalarClass { i < end ? classes[i] : .outOfRange }
        @inline(__always) func valueAt(_ i: Int) -> UInt32 { i < end ? values[i] : UInt32.max }
        @inline(__always) func lower(_ v: UInt32) -> UInt32 { v >= 65 && v <= 90 ? v + 32 : v }
        @inline(__always) func isLineBreak(_ v: UInt32) -> Bool { v == 13 || v == 10 }

        var pos = chunk.lowerBound
        var previousEnd = pos
        func add(_ pieceEnd: Int) {
            if pieceEnd > previousEnd { pieceEnds.append(pieceEnd) }
            previousEnd = pieceEnd
        }
        while pos < end {
            let scalar = values[pos]
            let cls = classes[pos]

            // (?i:'s|'t|'re|'ve|'m|'ll|'d)
            if scalar == 39, pos + 1 < end {
                let next = lower(values[pos + 1])
                if next == 115 || next == 116 || next == 109 || next == 100 {  // s t m d
                    pos += 2
                    add(pos)
                    continue
                }
                if pos + 2 < end {
                    let nextNext = lower(values[pos + 2])
                    if (next == 114 && nextNext == 101) || (next == 118 && nextNext == 101) || (next == 108 && nextNext == 108) {
                        pos += 3
                        add(pos)
                        continue
                    }
                }
            }

            // [^\r\n\p{L}\p{N}]?\p{L}+
            if !(isLineBreak(scalar) || cls == .number) {
                if cls == .letter || classAt(pos + 1) == .letter {
                    pos += 1
                    while classAt(pos) == .letter { pos += 1 }
                    add(pos)
                    continue
                }
            }

            // \p{N}{1,maxDigits}
            if cls == .number {
                var start = pos
                while classAt(pos) == .number {
                    pos += 1
                    if pos - start >= maxDigits {
                        add(pos)
                        start = pos
                    }
                }
                add(pos)
                continue
            }

            // <space>?[^\s\p{L}\p{N}]+[\r\n]*
            var run = scalar == 32 ? classAt(pos + 1) : cls
            if run == .other {
                if scalar == 32 { pos += 1 }
                while run == .other {
                    pos += 1
                    run = classAt(pos)
                }
                while isLineBreak(valueAt(pos)) { pos += 1 }
                add(pos)
                continue
            }

            var whitespaces = 0
            var lastLineBreakEnd = 0
            while classAt(pos + whitespaces) == .whitespace {
                if isLineBreak(values[pos + whitespaces]) { lastLineBreakEnd = pos + whitespaces + 1 }
                whitespaces += 1
            }
            // \s*[\r\n]+
            if lastLineBreakEnd > 0 {
                pos = lastLineBreakEnd
                add(pos)
                continue
            }
            // \s+(?!\S)
            if whitespaces > 1 && pos + whitespaces < end {
                pos += whitespaces - 1
                add(pos)
                continue
            }
            // \s+
            if whitespaces > 0 {
                pos += whitespaces
                add(pos)
                continue
            }
            pos += 1
            add(pos)
        }
    }
}
