import ArgumentParser
import Foundation
import GGUF
import Memory3Model
import Tokenizer

/// Options shared by every command that loads a model.
struct ModelOptions: ParsableArguments {
    static let defaultModelPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

    @Option(name: .shortAndLong, help: "Path to a GGUF model file (fetch the default with `make model`).")
    var model: String = ModelOptions.defaultModelPath

    @Option(help: "Threads for matrix work (default: the number of cores).")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 || t > 256 {
            throw ValidationError("--threads must be between 1 and 256")
        }
    }

    /// Opens the file and builds the tokenizer and model, reporting progress on stderr when
    /// loading takes more than a second.
    func load() throws -> (any DecoderModel, Tokenizer, loadSeconds: Double) {
        guard FileManager.default.fileExists(atPath: model) else {
            throw CLIError("model file '\(model)' does not exist" +
                (model == Self.defaultModelPath ? "; run `make model` to fetch it" : ""))
        }
        let start = Date()
        let progress = LoadProgress(start: start)
        do {
            let file = try GGUFFile(path: model)
            progress.report("tokenizer", done: 0, of: 1)
            let tokenizer = try Tokenizer(gguf: file)
            let model = try ModelRegistry.load(file, threads: threads) { done, total in
                progress.report("layers", done: done, of: total)
            }
            progress.finish()
            return (model, tokenizer, Date().timeIntervalSince(start))
        } catch let error as GGUFError {
            throw CLIError("cannot load '\(model)': \(error.description)")
        } catch let error as ModelError {
            throw CLIError("cannot load '\(model)': \(error.description)")
        } catch let error as TokenizerError {
            throw CLIError("cannot load the tokenizer of '\(model)': \(error)")
        }
    }
}

/// Prints load progress to stderr, but only once loading has taken over a second.
final class LoadProgress: @unchecked Sendable {
    let start: Date
    private var shown = false

    init(start: Date) { self.start = start }

    func report(_ what: String, done: Int, of total: Int) {
        let elapsed = Date().timeIntervalSince(start)
        guard elapsed > 1 else { return }
        shown = true
        FileHandle.standardError.write("\rloading model: \(what) \(done)/\(total) (\(String(format: "%.1f", elapsed)) s)".data(using: .utf8)!)
    }

    func finish() {
        if shown { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }
}

/// An error for the command line: printed as `Error: message` with exit code 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
