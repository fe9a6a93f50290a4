import Memory3Engine
import Memory3Model

/// The generation fields shared by /v1/completions and /v1/chat/completions, read from the
/// request JSON with OpenAI's names, ranges and defaults (plus llama.cpp's top_k, min_p and
/// repeat_penalty, and `memory`).
public struct CompletionParameters: Sendable {
    public var model: String
    /// As asked; nil means "up to the configured default, within the context".
    public var maxTokens: Int?
    public var sampling = SamplingParameters()
    public var stop: [String] = []
    public var stream = false
    public var includeUsage = false
    public var memoryMode = MemoryMode.off
    public var memoryK = 5
    /// nil: the server's default retriever.
    public var memoryRetriever: RetrieverKind?
    public var user: String?
    /// `ignore_eos` (llama.cpp, vLLM): generate through end-of-generation tokens, to max_tokens.
    public var ignoreEOS = false
    /// Alternatives per token when log-probabilities were asked for (chat `logprobs` +
    /// `top_logprobs`, completions `logprobs: N`); nil: none.
    public var logprobs: Int?
    /// `response_format: {"type": "json_object"}`: the output is one JSON object (constrained decoding).
    public var jsonObject = false
    /// Completions' `echo`: the answer starts with the prompt (and, with `logprobs`, the prompt
    /// tokens' log-probabilities, as evaluation harnesses read them).
    public var echo = false
    /// `response_format: {"type": "json_schema", ...}`: the output is an instance of this schema.
    public var schemaGrammar: JSONSchemaGrammar?
    /// Chat `tools` and `tool_choice` (nil: none offered, or "none"), with the grammar of a call.
    var tools: ToolSet?
    var toolGrammar: JSONSchemaGrammar?

    /// `n`: choices generated for the prompt (each its own sequence, decoded side by side).
    public var n = 1
    /// Most choices one request may ask for.
    static let maxChoices = 8

    /// Most stop strings one request may give.
    static let maxStopStrings = 16

    public struct Context: Sendable {
        public var modelID: String
        public var accepts: @Sendable (String) -> Bool
        public var maxTokensLimit: Int
        public var defaultMemoryMode: MemoryMode
        public var defaultMemoryK: Int
        public var maxMemoryK: Int
        public var memoryAvailable: Bool
        public var retrievers: [RetrieverKind] = [.bm25]
    }

    /// A retriever named in a request: one of `available`, or a 400 that says which exist.
    static func retriever(_ name: String?, available: [RetrieverKind], param: String) throws(APIError) -> RetrieverKind? {
        guard let name else { return nil }
        let names = RetrieverKind.allCases.map { "\"\($0.rawValue)\"" }.joined(separator: ", ")
        guard let kind = RetrieverKind(rawValue: name) else {
            throw .invalidRequest("'\(param)' must be one of \(names), not \"\(name)\"", param: param)
        }
        guard available.contains(kind) else {
            throw .invalidRequest("the '\(name)' retriever is not available on this server: it has no sentence encoder "
                                  + "(models/all-MiniLM-L6-v2; scripts/fetch-model.sh minilm); use \"bm25\"", param: param, code: "retriever_unavailable")
        }
        return kind
    }

    public static func parse(_ o: JSONObject, chat: Bool, context c: Context) throws(APIError) -> CompletionParameters {
        var p = CompletionParameters(model: c.modelID)
        if let model = try o.string("model") {
            guard c.accepts(model) else { throw .modelNotFound(model) }
            p.model = c.modelID
        }
        let limit = max(1, c.maxTokensLimit)
        if !chat { p.echo = try o.bool("echo") ?? false }
        p.maxTokens = try o.int("max_tokens", in: 0...limit)
        if p.maxTokens == 0 && !p.echo {
            throw .invalidRequest("'max_tokens' must be at least 1 (0, to score a prompt only, needs 'echo': true)", param: "max_tokens")
        }
        if chat, let m = try o.int("max_completion_tokens", in: 1...limit) { p.maxTokens = m }
        if let t = try o.double("temperature", in: 0...2) { p.sampling.temperature = Float(t) }
        if let topP = try o.double("top_p", in: 0...1) {
            guard topP > 0 else { throw .invalidRequest("'top_p' must be greater than 0", param: "top_p") }
            p.sampling.topP = Float(topP)
        }
        if let k = try o.int("top_k", in: 0...1_000_000) { p.sampling.topK = k }
        p.ignoreEOS = try o.bool("ignore_eos") ?? false
        if let format = try o.object("response_format") {
            switch try format.string("type") {
            case nil, "text": break
            case "json_object": p.jsonObject = true
            case "json_schema":
                guard let spec = try format.object("json_schema") else { throw format.invalid("json_schema", "is required with type \"json_schema\"") }
                guard let schema = spec.value("schema") else { throw spec.invalid("schema", "is required") }
                do {
                    p.schemaGrammar = try JSONSchemaGrammar.schema(schema)
                } catch {
                    throw .invalidRequest("'response_format.json_schema.schema' cannot be enforced: \(error)", param: "response_format.json_schema.schema")
                }
            case let other?:
                throw .invalidRequest("response_format '\(other)' is not supported; use \"text\", \"json_object\" or \"json_schema\"", param: "response_format")
            }
        }
        if chat, let tools = try ToolSet.parse(o) {
            guard !p.jsonObject && p.schemaGrammar == nil else {
                throw .invalidRequest("'tools' and a JSON 'response_format' cannot be combined in one request", param: "tools")
            }
            p.tools = tools
            p.toolGrammar = try tools.grammar()
        }
        if chat {
            let top = try o.int("top_logprobs", in: 0...20)
            if try o.bool("logprobs") == true {
                p.logprobs = top ?? 0
            } else if let top, top > 0 {
                throw .invalidRequest("'top_logprobs' needs 'logprobs': true", param: "top_logprobs")
            }
        } else {
            p.logprobs = try o.int("logprobs", in: 0...20)
        }
        if let minP = try o.double("min_p", in: 0...1) { p.sampling.minP = Float(minP) }
        if let f = try o.double("frequency_penalty", in: -2...2) { p.sampling.frequencyPenalty = Float(f) }
        if let pp = try o.double("presence_penalty", in: -2...2) { p.sampling.presencePenalty = Float(pp) }
        if let r = try o.double("repeat_penalty", in: 0.01...10) { p.sampling.repetitionPenalty = Float(r) }
        if let seed = try o.int("seed", in: Int.min...Int.max) { p.sampling.seed = UInt64(bitPattern: Int64(seed)) }
        if let message = p.sampling.validationError() { throw .invalidRequest(message) }

        p.stop = try stopStrings(o)
        p.stream = try o.bool("stream") ?? false
        if let options = try o.object("stream_options") {
            p.includeUsage = try options.bool("include_usage") ?? false
        }
        p.n = try o.int("n", in: 1...maxChoices) ?? 1
        if p.n > 1 && p.stream {
            throw .invalidRequest("n > 1 with stream: true is not supported; ask without streaming, or one choice per request", param: "n")
        }
        if let bestOf = try o.int("best_of", in: Int.min...Int.max), bestOf != 1 {
            throw .invalidRequest("only best_of=1 is supported", param: "best_of")
        }
        p.user = try o.string("user")
        try refuseUnsupported(o, chat: chat)

        p.memoryMode = c.defaultMemoryMode
        p.memoryK = c.defaultMemoryK
        if let memory = try o.object("memory") {
            if let mode = try memory.string("mode") {
                guard let parsed = MemoryMode(rawValue: mode) else {
                    throw .invalidRequest("'memory.mode' must be \"explicit\", \"text\" or \"off\", not \"\(mode)\"", param: "memory.mode")
                }
                p.memoryMode = parsed
            }
            p.memoryK = try memory.int("k", in: 1...c.maxMemoryK) ?? p.memoryK
            p.memoryRetriever = try Self.retriever(memory.string("retriever"), available: c.retrievers, param: "memory.retriever")
        }
        if p.memoryMode != .off && !c.memoryAvailable {
            throw .invalidRequest(
                "memory mode '\(p.memoryMode.rawValue)' is not available yet: this server has no knowledge base loaded; use \"off\"",
                param: "memory.mode", code: "memory_unavailable")
        }
        return p
    }

    /// A fresh constraint for one choice (its automaton state is its own), or nil for free text.
    func makeConstraint(_ table: JSONTokenTable) -> JSONConstraint? {
        if let grammar = toolGrammar { return JSONConstraint(table: table, grammar: grammar, optional: tools?.choice == .auto) }
        if let grammar = schemaGrammar { return JSONConstraint(table: table, grammar: grammar) }
        return jsonObject ? JSONConstraint(table: table) : nil
    }

    static func stopStrings(_ o: JSONObject) throws(APIError) -> [String] {
        guard let value = o.value("stop") else { return [] }
        var stops: [String]
        switch value {
        case .string(let s): stops = [s]
        case .array(let items):
            stops = []
            for item in items {
                guard case .string(let s) = item else { throw .invalidRequest("'stop' must be a string or an array of strings", param: "stop") }
                stops.append(s)
            }
        default:
            throw .invalidRequest("'stop' must be a string or an array of strings, not \(value.typeName)", param: "stop")
        }
        guard stops.count <= maxStopStrings else { throw .invalidRequest("'stop' may hold at most \(maxStopStrings) strings", param: "stop") }
        guard !stops.contains(where: \.isEmpty) else { throw .invalidRequest("'stop' strings must not be empty", param: "stop") }
        return stops
    }

    /// Fields whose features this server lacks: refused rather than silently ignored.
    static func refuseUnsupported(_ o: JSONObject, chat: Bool) throws(APIError) {
        if chat, try o.bool("echo") == true { throw .invalidRequest("'echo' is a /v1/completions field", param: "echo") }
        if let suffix = try o.string("suffix"), !suffix.isEmpty { throw .invalidRequest("'suffix' is not supported", param: "suffix") }
        if let bias = try o.object("logit_bias"), !bias.fields.isEmpty {
            throw .invalidRequest("'logit_bias' is not supported", param: "logit_bias")
        }
        if !chat {
            for field in ["tools", "functions"] {
                if let items = try o.array(field), !items.isEmpty {
                    throw .invalidRequest("'\(field)' (tool calling) needs /v1/chat/completions", param: field)
                }
            }
        }
    }
}
