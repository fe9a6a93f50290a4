import Foundation
import Memory3Engine
import Memory3Model

/// Token counts, as OpenAI reports them.
struct Usage: Encodable, Sendable {
    struct PromptDetails: Encodable, Sendable {
        /// Prompt tokens whose key/values came from the prompt cache (OpenAI's name).
        let cached_tokens: Int
    }

    let prompt_tokens: Int
    let completion_tokens: Int
    let total_tokens: Int
    let prompt_tokens_details: PromptDetails

    init(_ outcome: CompletionOutcome) { self.init([outcome]) }

    /// Several choices of one prompt: the prompt once, every choice's tokens.
    init(_ outcomes: [CompletionOutcome]) {
        prompt_tokens = outcomes.first?.promptTokens ?? 0
        completion_tokens = outcomes.reduce(0) { $0 + $1.completionTokens }
        total_tokens = prompt_tokens + completion_tokens
        prompt_tokens_details = PromptDetails(cached_tokens: outcomes.first?.cachedPromptTokens ?? 0)
    }
}

/// Which memories an answer used: per 64-token chunk, the references and their scores.
struct MemoryReport: Encodable, Sendable {
    struct Reference: Encodable, Sendable {
        let reference_id: Int64
        let document_id: Int64
        let score: Double
        let rank: Int
        /// The retrieval head's share of attention on this memory when the read was reranked.
        let head_mass: Float?
    }

    struct Chunk: Encodable, Sendable {
        let phase: String
        let first_token: Int
        let token_count: Int
        let references: [Reference]
    }

    let mode: String
    let chunks: [Chunk]

    init(_ outcome: CompletionOutcome) {
        mode = outcome.memoryMode.rawValue
        chunks = outcome.memoryChunks.map { record in
            Chunk(phase: record.phase.rawValue, first_token: record.firstToken, token_count: record.tokenCount,
                  references: record.references.map {
                      Reference(reference_id: $0.referenceId, document_id: $0.documentId, score: $0.score, rank: $0.rank,
                                head_mass: $0.headMass)
                  })
        }
    }

    init(mode: MemoryMode) {
        self.mode = mode.rawValue
        chunks = []
    }
}

/// OpenAI's finish_reason for an outcome: "stop" (end of text or a stop string) or "length"
/// (max_tokens, the context, or the request's deadline); a tool call's is "tool_calls" (`Reply`).
func finishReasonName(_ reason: FinishReason) -> String {
    switch reason {
    case .endOfSequence, .stopString: "stop"
    case .length, .cancelled: "length"
    }
}

/// An optional that encodes as an explicit JSON null (OpenAI sends `"finish_reason": null`).
struct Nullable<T: Encodable & Sendable>: Encodable, Sendable {
    let value: T?
    init(_ value: T?) { self.value = value }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        if let value { try c.encode(value) } else { try c.encodeNil() }
    }
}

/// One tool call, as OpenAI writes it (`index` only in stream deltas).
struct ToolCallResponse: Encodable, Sendable {
    struct Function: Encodable, Sendable {
        let name: String
        /// The arguments as JSON text (OpenAI's shape: a string, not an object).
        let arguments: String
    }

    var index: Int?
    let id: String
    let type = "function"
    let function: Function
}

/// A piece of a streamed tool call, as OpenAI sends them: the first names the call (index, id,
/// type, function name, empty arguments), the next ones carry pieces of the arguments' text.
struct ToolCallDelta: Encodable, Sendable {
    struct Function: Encodable, Sendable {
        var name: String?
        let arguments: String
    }

    let index: Int
    var id: String?
    var type: String?
    let function: Function
}

struct ChatCompletion: Encodable, Sendable {
    struct Message: Encodable, Sendable {
        let role: String
        let content: Nullable<String>
        var tool_calls: [ToolCallResponse]?
    }

    struct Choice: Encodable, Sendable {
        let index: Int
        let message: Message
        let finish_reason: String
        let logprobs: Nullable<LogprobsResponses.Chat>
    }

    let id: String
    let object = "chat.completion"
    let created: Int
    let model: String
    let system_fingerprint: String
    let choices: [Choice]
    let usage: Usage
    let memory: MemoryReport
}

struct ChatCompletionChunk: Encodable, Sendable {
    struct Delta: Encodable, Sendable {
        var role: String?
        var content: String?
        var tool_calls: [ToolCallDelta]?
    }

    struct Choice: Encodable, Sendable {
        let index: Int
        let delta: Delta
        let finish_reason: Nullable<String>
        let logprobs: Nullable<LogprobsResponses.Chat>
    }

    let id: String
    let object = "chat.completion.chunk"
    let created: Int
    let model: String
    let system_fingerprint: String
    let choices: [Choice]
    var usage: Nullable<Usage>?
    var memory: MemoryReport?
}

struct TextCompletion: Encodable, Sendable {
    struct Choice: Encodable, Sendable {
        let index: Int
        let text: String
        let finish_reason: Nullable<String>
        let logprobs: Nullable<LogprobsResponses.Text>
    }

    let id: String
    let object = "text_completion"
    let created: Int
    let model: String
    let system_fingerprint: String
    let choices: [Choice]
    var usage: Nullable<Usage>?
    var memory: MemoryReport?
}

enum CompletionIDs {
    static func make(prefix: String) -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = (0 ..< 12).map { _ in String(format: "%02x", UInt8.random(in: 0 ... 255, using: &generator)) }.joined()
        return prefix + hex
    }

    static var now: Int { Int(Date().timeIntervalSince1970) }
}
