/// Finds the string literals inside a Jinja template's `{{ }}` and `{% %}` tags, with escapes
/// such as `\n` resolved, so a template's constant text can be read without running it.
enum JinjaStringLiterals {
    static func all(in template: String) -> [String] {
        let characters = Array(template)
        var literals: [String] = []
        var i = 0
        var insideTag = false
        while i < characters.count {
            let character = characters[i]
            let next: Character? = i + 1 < characters.count ? characters[i + 1] : nil
            if !insideTag {
                if character == "{", next == "{" || next == "%" { insideTag = true; i += 2 } else { i += 1 }
                continue
            }
            if (character == "}" || character == "%"), next == "}" {
                insideTag = false
                i += 2
                continue
            }
            guard character == "'" || character == "\"" else { i += 1; continue }
            // A literal: read to the matching quote, resolving backslash escapes.
            var literal = ""
            i += 1
            while i < characters.count, characters[i] != character {
                if characters[i] == "\\", i + 1 < characters.count {
                    i += 1
                    switch characters[i] {
                    case "n": literal.append("\n")
                    case "t": literal.append("\t")
                    case "r": literal.append("\r")
                    default: literal.append(characters[i])
                    }
                } else {
                    literal.append(characters[i])
                }
                i += 1
            }
            literals.append(literal)
            i += 1
        }
        return literals
    }
}
