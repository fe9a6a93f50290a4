import Foundation
import GGUF

/// The architectures this engine runs, keyed by GGUF `general.architecture`. Adding one is one
/// file implementing `DecoderModel` plus a line here.
public enum ModelRegistry {
    /// Builds a model from an opened GGUF file; `progress` gets (layers loaded, layers).
    public typealias Loader = @Sendable (GGUFFile, _ threads: Int?, _ progress: (@Sendable (Int, Int) -> Void)?) throws -> any DecoderModel

    public static let loaders: [String: Loader] = [
        "llama": { file, threads, progress in try LlamaModel(file: file, threads: threads, progress: progress) },
        "qwen2": { file, threads, progress in try LlamaModel(file: file, threads: threads, progress: progress) },
        "qwen3": { file, threads, progress in try LlamaModel(file: file, threads: threads, progress: progress) },
        "gemma3": { file, threads, progress in try Gemma3Model(file: file, threads: threads, progress: progress) },
    ]

    /// The architecture names that load, sorted.
    public static var supportedArchitectures: [String] { loaders.keys.sorted() }

    /// The model for `file`'s architecture; an unknown one is refused with the list of known ones.
    public static func load(_ file: GGUFFile, threads: Int? = nil,
                            progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> any DecoderModel {
        let architecture: String
        do { architecture = try file.string("general.architecture") } catch let e as GGUFError { throw ModelError.file(e) }
        guard let loader = loaders[architecture] else { throw ModelError.unsupportedArchitecture(architecture) }
        return try loader(file, threads, progress)
    }

    /// Opens `path` and loads its model.
    public static func load(path: String, threads: Int? = nil,
                            progress: (@Sendable (Int, Int) -> Void)? = nil) throws -> any DecoderModel {
        let file: GGUFFile
        do { file = try GGUFFile(path: path) } catch let e as GGUFError { throw ModelError.file(e) }
        return try load(file, threads: threads, progress: progress)
    }
}
