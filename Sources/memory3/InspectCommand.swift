import ArgumentParser
import GGUF
import Memory3Model

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show a GGUF file's metadata, tensors and the model configuration."
    )

    @Option(name: .shortAndLong, help: "Path to a GGUF file.")
    var model: String = ModelOptions.defaultModelPath

    @Flag(help: "List every tensor.")
    var tensors = false

    func run() throws {
        let file: GGUFFile
        do { file = try GGUFFile(path: model) } catch let e as GGUFError { throw CLIError(e.description) }
        print("GGUF v\(file.version): \(file.metadata.count) metadata keys, \(file.tensors.count) tensors, \(file.fileSize) bytes")
        for key in file.metadataKeys {
            let value = file.metadata[key]!
            if let array = value.arrayValue {
                print("  \(key): array of \(array.count)")
            } else if let s = value.stringValue {
                print("  \(key): \(s.count > 120 ? String(s.prefix(120)) + "..." : s)".replacingOccurrences(of: "\n", with: "\\n"))
            } else {
                print("  \(key): \(value.doubleValue.map { "\($0)" } ?? "\(value)")")
            }
        }
        if let config = try? LlamaConfig(gguf: file) { print("config: \(config)") }
        if tensors {
            for t in file.tensors { print("  \(t.name) \(t.dimensions) \(t.type.name)") }
        }
    }
}
