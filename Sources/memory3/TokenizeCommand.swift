import ArgumentParser

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize",
        abstract: "Print the token ids of a text as JSON.",
        discussion: "Control tokens written in the text (like <|im_start|>) become their single ids, as llama.cpp does with special=True."
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .shortAndLong, help: "The text to tokenize.")
    var text: String

    @Flag(help: "Treat control-token text like <|im_start|> as plain text.")
    var noSpecial = false

    @Flag(help: "Also print each token's text.")
    var verbose = false

    func run() throws {
        let (_, tokenizer, _) = try modelOptions.load()
        let ids = tokenizer.encode(text, parseSpecial: !noSpecial)
        if verbose {
            struct Piece: Encodable { let id: Int; let text: String }
            try JSONOutput.print(ids.map { Piece(id: $0, text: tokenizer.decode([$0])) })
        } else {
            try JSONOutput.print(ids)
        }
    }
}
