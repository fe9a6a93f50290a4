import Foundation
import Memory3Engine
import Memory3Model
import Tokenizer

/// The model as the API sees it: its name, tokenizer, chat template, context length, and the
/// generation function.
public struct LanguageModelEngine: Sendable {
    /// The id clients send as `model` (GET /v1/models lists it).
    public let modelID: String
    /// Other names accepted for `model` (the file name, for example).
    public let aliases: Set<String>
    public let tokenizer: Tokenizer
    /// nil when the model's template is not one this engine renders (chat completions answer 400).
    public let chatTemplate: ChatTemplate?
    public let chatTemplateProblem: String?
    public let contextLength: Int
    /// Whether the engine can read memories (a knowledge base is open); if not, modes other
    /// than "off" answer 400.
    public let memoryAvailable: Bool
    public var generate: GenerateFunction

    public init(modelID: String, aliases: Set<String> = [], tokenizer: Tokenizer, chatTemplate: ChatTemplate?,
                chatTemplateProblem: String? = nil, contextLength: Int, memoryAvailable: Bool = false,
                generate: @escaping GenerateFunction) {
        self.modelID = modelID
        self.aliases = aliases
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.chatTemplateProblem = chatTemplateProblem
        self.contextLength = contextLength
        self.memoryAvailable = memoryAvailable
        self.generate = generate
    }

    /// The engine for a loaded model; with a memory source, requests may use memory modes.
    public init(model: LlamaModel, tokenizer: Tokenizer, modelID: String, aliases: Set<String> = [],
                memorySource: MemorySource? = nil, policy: MemoryReadingPolicy = MemoryReadingPolicy()) {
        var template: ChatTemplate?
        var problem: String?
        do {
            template = try ChatTemplate.detect(from: model.file.metadata["tokenizer.chat_template"]?.stringValue)
        } catch {
            problem = "\(error)"
        }
        self.init(modelID: modelID, aliases: aliases, tokenizer: tokenizer, chatTemplate: template,
                  chatTemplateProblem: problem, contextLength: model.config.contextLength,
                  memoryAvailable: memorySource != nil,
                  generate: Self.memoryGeneration(model: model, tokenizer: tokenizer, source: memorySource, policy: policy))
    }

    /// Generation through `MemoryGenerator`: explicit memory, text memory or none, per job.
    public static func memoryGeneration(model: LlamaModel, tokenizer: Tokenizer, source: MemorySource?,
                                        policy: MemoryReadingPolicy) -> GenerateFunction {
        { job, onText in
            var policy = policy
            policy.memoriesPerChunk = job.memoryK
            let generator = MemoryGenerator(model: model, tokenizer: tokenizer, source: source, policy: policy)
            let result = try generator.generate(prompt: job.prompt, retrievable: job.retrievable, mode: job.memoryMode,
                                                options: job.options, onText: onText)
            return CompletionOutcome(result.generation, memoryMode: result.mode, chunks: result.chunks,
                                     retrievalSeconds: result.retrievalSeconds)
        }
    }

    /// Whether `name` names this model.
    public func accepts(model name: String) -> Bool {
        name == modelID || aliases.contains(name)
    }
}
