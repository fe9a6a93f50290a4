import Foundation
import Synchronization
import Memory3Engine
import Memory3Model
import Tokenizer

/// The model as the API sees it: its name, tokenizer, chat template, context length, and the
/// backend that generates.
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
    /// The retrievers a request may name (dense and hybrid need the sentence encoder).
    public let retrievers: [RetrieverKind]
    /// Key/value bytes one context token takes (sizes the default slot count); 0 when unknown.
    public let kvBytesPerToken: Int
    public let backend: any GenerationBackend
    /// Embeddings from the model's hidden states (nil: this engine has no model to run).
    public let embedder: HiddenStateEmbedder?
    /// Every token's bytes for constrained decoding, built at the first request that needs them.
    let jsonTokens: LazyJSONTokenTable

    public init(modelID: String, aliases: Set<String> = [], tokenizer: Tokenizer, chatTemplate: ChatTemplate?,
                chatTemplateProblem: String? = nil, contextLength: Int, memoryAvailable: Bool = false,
                kvBytesPerToken: Int = 0, backend: any GenerationBackend, embedder: HiddenStateEmbedder? = nil,
                retrievers: [RetrieverKind] = [.bm25]) {
        self.embedder = embedder
        self.retrievers = retrievers
        self.jsonTokens = LazyJSONTokenTable(tokenizer: tokenizer)
        self.modelID = modelID
        self.aliases = aliases
        self.tokenizer = tokenizer
        self.chatTemplate = chatTemplate
        self.chatTemplateProblem = chatTemplateProblem
        self.contextLength = contextLength
        self.memoryAvailable = memoryAvailable
        self.kvBytesPerToken = kvBytesPerToken
        self.backend = backend
    }

    /// The engine for a loaded model; with a memory source, requests may use memory modes.
    /// Finished sequences' key/values are kept for prompt reuse up to `promptCacheBytes`.
    public init(model: any DecoderModel, tokenizer: Tokenizer, modelID: String, aliases: Set<String> = [],
                memorySource: MemorySource? = nil, policy: MemoryReadingPolicy = MemoryReadingPolicy(),
                promptCacheBytes: Int = 256 << 20) {
        var template: ChatTemplate?
        var problem: String?
        do {
            template = try ChatTemplate.detect(from: model.file.metadata["tokenizer.chat_template"]?.stringValue)
        } catch {
            problem = "\(error)"
        }
        let batcher = SequenceBatcher(model: model, tokenizer: tokenizer, source: memorySource, policy: policy,
                                      promptCache: promptCacheBytes > 0 ? PromptCache(budgetBytes: promptCacheBytes) : nil)
        self.init(modelID: modelID, aliases: aliases, tokenizer: tokenizer, chatTemplate: template,
                  chatTemplateProblem: problem, contextLength: model.config.contextLength,
                  memoryAvailable: memorySource != nil, kvBytesPerToken: model.config.kvBytesPerToken,
                  backend: ModelBackend(batcher: batcher), embedder: HiddenStateEmbedder(model: model, tokenizer: tokenizer),
                  retrievers: (memorySource as? StoreMemorySource)?.availableRetrievers ?? [.bm25])
    }

    /// Whether `name` names this model.
    public func accepts(model name: String) -> Bool {
        name == modelID || aliases.contains(name)
    }
}

/// A `JSONTokenTable` made once, on first use (a vocabulary walk: tens of milliseconds).
final class LazyJSONTokenTable: Sendable {
    let tokenizer: Tokenizer
    private let table = Mutex<JSONTokenTable?>(nil)

    init(tokenizer: Tokenizer) {
        self.tokenizer = tokenizer
    }

    var value: JSONTokenTable {
        table.withLock { table in
            if let table { return table }
            let made = JSONTokenTable(tokenizer: tokenizer)
            table = made
            return made
        }
    }
}
