import Foundation
import Memory3Engine

/// POST /v1/embeddings in OpenAI's shape, from the serving model's own hidden states
/// (`HiddenStateEmbedder`: mean of the final-normed states over the text's tokens, unit length).
/// Inputs: a string, strings, token ids, or lists of token ids; `encoding_format` float or base64
/// (little-endian float32, what the openai SDK asks for by default).
struct EmbeddingRoutes: Sendable {
    let engine: @Sendable () -> LanguageModelEngine?
    /// One embedding request computes at a time: each is whole forward passes, beside generation.
    let gate = NSLock()

    static let maxInputs = 64
    static let maxTotalTokens = 16384

    struct Embedding: Encodable, Sendable {
        let object = "embedding"
        let index: Int
        let embedding: Vector
    }

    enum Vector: Encodable, Sendable {
        case floats([Float])
        case base64(String)

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .floats(let values): try container.encode(values)
            case .base64(let text): try container.encode(text)
            }
        }
    }

    struct Usage: Encodable, Sendable {
        let prompt_tokens: Int
        let total_tokens: Int
    }

    struct List: Encodable, Sendable {
        let object = "list"
        let data: [Embedding]
        let model: String
        let usage: Usage
    }

    func routes() -> [Route] {
        [Route("POST", "/v1/embeddings") { request throws(APIError) in try embeddings(request) }]
    }

    func embeddings(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        guard let engine = engine() else { throw .modelLoading }
        guard let embedder = engine.embedder else {
            throw .notImplemented("this server's engine has no model to compute embeddings with")
        }
        let body = try JSONValue.parseObject(request.http.body)
        if let model = try body.string("model"), !engine.accepts(model: model) { throw .modelNotFound(model) }
        let format = try body.string("encoding_format") ?? "float"
        guard format == "float" || format == "base64" else {
            throw .invalidRequest("'encoding_format' must be \"float\" or \"base64\"", param: "encoding_format")
        }
        if let dimensions = try body.int("dimensions", in: Int.min...Int.max), dimensions != embedder.dimensions {
            throw .invalidRequest("this model's embeddings have \(embedder.dimensions) dimensions; 'dimensions' cannot change that",
                                  param: "dimensions")
        }
        let inputs = try Self.inputs(body, embedder: embedder, contextLength: engine.contextLength)
        var vectors: [[Float]] = []
        gate.lock()
        defer { gate.unlock() }
        for tokens in inputs {
            if request.context.isClientGone { throw .invalidRequest("the client went away") }
            do {
                vectors.append(try embedder.embed(tokens))
            } catch {
                throw .internalError("embedding failed: \(error)")
            }
        }
        let total = inputs.reduce(0) { $0 + $1.count }
        return .json(List(data: vectors.enumerated().map { index, vector in
            Embedding(index: index, embedding: format == "float" ? .floats(vector) : .base64(Self.base64(vector)))
        }, model: engine.modelID, usage: Usage(prompt_tokens: total, total_tokens: total)))
    }

    /// The token lists to embed, each checked against the context and the request's limits.
    static func inputs(_ body: JSONObject, embedder: HiddenStateEmbedder, contextLength: Int) throws(APIError) -> [[Int]] {
        guard let input = body.value("input") else { throw .invalidRequest("'input' is required", param: "input") }
        var lists: [[Int]] = []
        func ids(_ values: [JSONValue]) throws(APIError) -> [Int] {
            var out: [Int] = []
            for value in values {
                guard case .int(let id) = value, id >= 0, id < embedder.tokenizer.vocabularySize else {
                    throw .invalidRequest("token ids in 'input' must be in 0..<\(embedder.tokenizer.vocabularySize)", param: "input")
                }
                out.append(id)
            }
            return out
        }
        switch input {
        case .string(let text): lists = [embedder.tokens(text)]
        case .array(let items) where items.allSatisfy({ if case .string = $0 { true } else { false } }):
            lists = items.map { item in if case .string(let text) = item { embedder.tokens(text) } else { [] } }
        case .array(let items) where items.allSatisfy({ if case .int = $0 { true } else { false } }):
            lists = [try ids(items)]
        case .array(let items) where items.allSatisfy({ if case .array = $0 { true } else { false } }):
            for item in items { if case .array(let values) = item { lists.append(try ids(values)) } }
        default:
            throw .invalidRequest("'input' must be a string, an array of strings, an array of token ids, or an array of such arrays",
                                  param: "input")
        }
        guard !lists.isEmpty, lists.count <= maxInputs else {
            throw .invalidRequest("'input' must hold 1 to \(maxInputs) items", param: "input")
        }
        for (index, tokens) in lists.enumerated() {
            guard !tokens.isEmpty else { throw .invalidRequest("input \(index) is empty", param: "input") }
            guard tokens.count <= contextLength else {
                throw .invalidRequest("input \(index) has \(tokens.count) tokens, more than the model's context of \(contextLength)", param: "input")
            }
        }
        let total = lists.reduce(0) { $0 + $1.count }
        guard total <= maxTotalTokens else {
            throw .invalidRequest("the inputs hold \(total) tokens; at most \(maxTotalTokens) per request", param: "input")
        }
        return lists
    }

    /// Little-endian float32 bytes, base64 (OpenAI's `encoding_format: "base64"`).
    static func base64(_ vector: [Float]) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(vector.count * 4)
        for value in vector {
            let bits = value.bitPattern.littleEndian
            bytes += [UInt8(bits & 0xff), UInt8((bits >> 8) & 0xff), UInt8((bits >> 16) & 0xff), UInt8(bits >> 24)]
        }
        return Data(bytes).base64EncodedString()
    }
}
