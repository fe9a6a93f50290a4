import ArgumentParser

@main
struct Memory3Command: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory3",
        abstract: "An inference server for language models with explicit memory (Memory3).",
        discussion: """
        The engine runs Llama-architecture GGUF models (SmolLM2-135M-Instruct is the default) on the CPU.
        Fetch the default model with `make model`; it lands in models/.
        """,
        subcommands: [GenerateCommand.self, TokenizeCommand.self, BenchCommand.self, InspectCommand.self, EvalCommand.self, CalibrateCommand.self, ServeCommand.self, BenchMemoryCommand.self, RetrievalEvalCommand.self, BenchRetrievalCommand.self, IngestCommand.self, DocumentsCommand.self, ScorerFitnessCommand.self]
    )
}
