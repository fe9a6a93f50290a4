import Foundation
import Memory3Engine
import Memory3Model
import Tokenizer

/// POST /v1/completions and /v1/chat/completions: read the request, admit it to the
/// generation queue, and answer with the whole completion or a stream of Server-Sent Events.
struct CompletionService: Sendable {
    enum Kind: Sendable { case text, chat }

    let configuration: ServerConfiguration
    let scheduler: GenerationScheduler
    let metrics: ServerMetrics
    let engine: @Sendable () -> LanguageModelEngine?
    /// How often a waiting request checks whether its client is still there.
    let pollInterval = 0.05

    func handle(_ request: RouteRequest, kind: Kind) throws(APIError) -> HTTPResponse {
        guard let engine = engine() else { throw .modelLoading }
        let object = try JSONValue.parseObject(request.http.body)
        let parameterContext = CompletionParameters.Context(
            modelID: engine.modelID, accepts: { engine.accepts(model: $0) },
            maxTokensLimit: min(configuration.maxTokensLimit, engine.contextLength),
            defaultMemoryMode: engine.memoryAvailable ? configuration.defaultMemoryMode : .off,
            defaultMemoryK: configuration.defaultMemoryK, maxMemoryK: configuration.maxMemoryK,
            memoryAvailable: engine.memoryAvailable, retrievers: engine.retrievers)
        let parameters = try CompletionParameters.parse(object, chat: kind == .chat, context: parameterContext)

        var prompt: [Int]
        var retrievable: [Bool]?
        var echo: Reply.Echo?
        switch kind {
        case .text:
            let read = try PromptBuilder.completionPrompt(object, tokenizer: engine.tokenizer)
            prompt = read.tokens
            if parameters.echo { echo = Reply.Echo(text: read.text, tokens: read.tokens) }
        case .chat:
            let messages = try PromptBuilder.chatMessages(object, tools: parameters.tools)
            guard let template = engine.chatTemplate else {
                throw .invalidRequest("this model has no chat template this server can render (\(engine.chatTemplateProblem ?? "none")); use /v1/completions")
            }
            if let problem = template.problem(with: messages) { throw .invalidRequest(problem, param: "messages") }
            // Message content is tokenized as plain text: markup in it cannot forge turns.
            let chat = ChatPrompt(template: template, messages: messages, tokenizer: engine.tokenizer)
            (prompt, retrievable) = (chat.tokens, chat.retrievable)
        }

        let room = engine.contextLength - prompt.count
        if let asked = parameters.maxTokens, asked > room {
            throw .contextLengthExceeded(promptTokens: prompt.count, maxTokens: asked, contextLength: engine.contextLength,
                                         promptParam: kind == .chat ? "messages" : "prompt")
        }
        guard room >= 1 else {
            throw .contextLengthExceeded(promptTokens: prompt.count, maxTokens: parameters.maxTokens ?? 1, contextLength: engine.contextLength,
                                         promptParam: kind == .chat ? "messages" : "prompt")
        }
        let maxTokens = parameters.maxTokens ?? min(configuration.defaultMaxTokens, room)
        var options = GenerationOptions(maxTokens: maxTokens, sampling: parameters.sampling, stop: parameters.stop)
        options.stopAtEndOfGeneration = !parameters.ignoreEOS
        options.logprobs = parameters.logprobs
        options.promptLogprobs = parameters.echo && parameters.logprobs != nil
        let deadline = request.context.startedAt + configuration.requestTimeoutSeconds
        let kvBytes = min(prompt.count + maxTokens, engine.contextLength) * engine.kvBytesPerToken
        // One sequence per choice (`n`), each with its own constraint state and, when a seed is
        // given, seed + index, so that the choices differ and each is reproducible.
        var jobs: [CompletionJob] = []
        for index in 0 ..< parameters.n {
            var choice = options
            if let seed = parameters.sampling.seed { choice.sampling.seed = seed &+ UInt64(index) }
            choice.constraint = parameters.makeConstraint(engine.jsonTokens.value)
            jobs.append(CompletionJob(prompt: prompt, retrievable: retrievable, options: choice,
                                      memoryMode: parameters.memoryMode, memoryK: parameters.memoryK,
                                      memoryRetriever: parameters.memoryRetriever))
        }
        // The other choices start from the first one's prompt key/values.
        let tickets = try scheduler.submit(choices: jobs, deadline: deadline, kvBytes: kvBytes, backend: engine.backend)

        let reply = Reply(kind: kind, id: CompletionIDs.make(prefix: kind == .chat ? "chatcmpl-" : "cmpl-"),
                          created: CompletionIDs.now, model: engine.modelID, parameters: parameters, tokenizer: engine.tokenizer,
                          echo: echo)
        if parameters.stream {
            let context = request.context
            let ticket = tickets[0]
            return HTTPResponse(status: .ok, headers: ServerSentEvents.headers) { stream in
                self.stream(ticket, reply: reply, to: stream, context: context)
            }
        }
        return try wholeResponse(tickets, reply: reply, context: request.context)
    }

    // MARK: - Whole responses

    private func wholeResponse(_ tickets: [GenerationTicket], reply: Reply, context: RequestContext) throws(APIError) -> HTTPResponse {
        var cancelledForClient = false
        var outcomes: [CompletionOutcome?] = Array(repeating: nil, count: tickets.count)
        while true {
            // The first unfinished choice waits a poll interval; the others are only looked at.
            let waiter = outcomes.firstIndex { $0 == nil }
            for (index, ticket) in tickets.enumerated() where outcomes[index] == nil {
                let update = ticket.next(timeout: index == waiter ? pollInterval : 0)
                guard let end = update.end else { continue }
                do {
                    outcomes[index] = try outcomeOrError(end, ticket: ticket, kind: reply.kind)
                } catch {
                    // One choice failed: the answer cannot be whole; stop the others.
                    for other in tickets where other !== ticket { scheduler.cancel(other) }
                    throw error
                }
            }
            if outcomes.allSatisfy({ $0 != nil }) {
                let done = outcomes.compactMap { $0 }
                record(done, tickets: tickets, context: context)
                return .json(reply.whole(done))
            }
            if !cancelledForClient && context.isClientGone {
                // Nobody will read the answer: stop generating it.
                for ticket in tickets { scheduler.cancel(ticket) }
                cancelledForClient = true
            }
        }
    }

    // MARK: - Streams

    private func stream(_ ticket: GenerationTicket, reply: Reply, to stream: ResponseBodyStream, context: RequestContext) {
        metrics.streamStarted()
        defer { metrics.streamEnded() }
        func send(_ json: some Encodable) -> Bool {
            let data = (try? JSONCoding.encoder.encode(json)) ?? Data()
            return stream.write(ServerSentEvents.event(String(decoding: data, as: UTF8.self)))
        }
        var alive = reply.kind == .chat ? send(reply.chunk(role: "assistant", text: ""))
            : reply.echo.map { send(reply.chunk(text: $0.text)) } ?? true
        var lastCheck = MonotonicClock.now()
        // With tools offered, text that begins with "{" is a call: streamed as tool-call deltas
        // (its name once the grammar's fixed prefix is whole, then the arguments' text).
        var holding = reply.parameters.tools != nil
        var held = ""
        var heldLogprobs: [TokenLogprob] = []
        var call = ToolCallStream(id: reply.toolCallID)
        // Log-probabilities sent so far, and where the next text starts (completions' text_offset).
        var sentLogprobs = 0
        var offset = 0
        func sendText(_ text: String, _ logprobs: [TokenLogprob]) -> Bool {
            defer {
                sentLogprobs += logprobs.count
                offset += text.count
            }
            return send(reply.chunk(text: text, logprobs: logprobs, offset: offset))
        }
        while true {
            let update = ticket.next(timeout: pollInterval)
            for (i, piece) in update.pieces.enumerated() where alive {
                let logprobs = i < update.logprobs.count ? update.logprobs[i] : []
                if holding {
                    held += piece
                    heldLogprobs += logprobs
                    guard let first = held.first(where: { !$0.isWhitespace }) else { continue }
                    if first == "{" {
                        for delta in call.take(held) where alive { alive = send(reply.toolCallChunk(delta)) }
                        continue
                    }
                    holding = false
                    alive = sendText(held, heldLogprobs)
                    held = ""
                    heldLogprobs = []
                    continue
                }
                alive = sendText(piece, logprobs)
            }
            if let end = update.end {
                guard alive else {
                    if case .success(let outcome) = end { record([outcome], tickets: [ticket], context: context) }
                    return
                }
                switch end {
                case .success(let outcome):
                    record([outcome], tickets: [ticket], context: context)
                    if holding, !held.isEmpty {
                        if reply.toolCall(outcome) != nil {
                            for delta in call.take(held) where alive { alive = send(reply.toolCallChunk(delta)) }
                        } else if !call.started {
                            alive = sendText(held, heldLogprobs)
                        }
                    }
                    _ = alive && send(reply.finalChunk(outcome, sent: sentLogprobs, offset: offset))
                        && (!reply.parameters.includeUsage || send(reply.usageChunk(outcome)))
                case .failure(let error):
                    _ = send(Self.apiError(for: error, ticket: ticket, kind: reply.kind).envelope)
                }
                _ = stream.write(ServerSentEvents.event("[DONE]"))
                return
            }
            let now = MonotonicClock.now()
            if alive && now - lastCheck >= pollInterval {
                lastCheck = now
                if stream.isClientGone { alive = false }
            }
            if !alive && !ticket.isCancelled { scheduler.cancel(ticket) }
        }
    }

    // MARK: - Outcomes

    private func outcomeOrError(_ end: Result<CompletionOutcome, any Error>, ticket: GenerationTicket, kind: Kind) throws(APIError) -> CompletionOutcome {
        switch end {
        case .success(let outcome): return outcome
        case .failure(let error): throw Self.apiError(for: error, ticket: ticket, kind: kind)
        }
    }

    static func apiError(for error: any Error, ticket: GenerationTicket, kind: Kind) -> APIError {
        switch error {
        case let error as APIError: return error
        case GenerationSkipped.deadlinePassedInQueue: return .deadlineExceeded(seconds: ticket.deadline - ticket.enqueuedAt)
        case GenerationSkipped.cancelled: return .shuttingDown
        case ModelError.contextFull(let needed, let capacity):
            return .contextLengthExceeded(promptTokens: needed - 1, maxTokens: 1, contextLength: capacity,
                                          promptParam: kind == .chat ? "messages" : "prompt")
        case ModelError.emptyInput: return .invalidRequest("the prompt is empty", param: "prompt")
        default: return .internalError("\(error)")
        }
    }

    /// Metrics for every choice; the log line names the first choice's memory and timing, and
    /// the completion tokens of all.
    private func record(_ outcomes: [CompletionOutcome], tickets: [GenerationTicket], context: RequestContext) {
        for (outcome, ticket) in zip(outcomes, tickets) {
            metrics.recordGeneration(outcome, firstToken: ticket.firstTextAt.map { $0 - context.startedAt })
        }
        let outcome = outcomes[0], ticket = tickets[0]
        let firstToken = ticket.firstTextAt.map { $0 - context.startedAt }
        // The request's log line: what was generated, with which memory, and where time went.
        context.annotate("prompt_tokens", String(outcome.promptTokens))
        context.annotate("cached_tokens", String(outcome.cachedPromptTokens))
        context.annotate("completion_tokens", String(outcomes.reduce(0) { $0 + $1.completionTokens }))
        if outcomes.count > 1 { context.annotate("choices", String(outcomes.count)) }
        context.annotate("finish_reason", finishReasonName(outcome.finishReason))
        context.annotate("memory_mode", outcome.memoryMode.rawValue)
        var used: [Int64] = []
        for chunk in outcome.memoryChunks {
            for reference in chunk.references where !used.contains(reference.referenceId) { used.append(reference.referenceId) }
        }
        context.annotate("references_used", String(used.count))
        if !used.isEmpty { context.annotate("reference_ids", used.prefix(20).map(String.init).joined(separator: ",")) }
        if let started = ticket.startedAt {
            context.annotate("queue_wait_ms", String(format: "%.1f", max(0, started - ticket.enqueuedAt) * 1000))
        }
        if let firstToken { context.annotate("ttft_ms", String(format: "%.1f", firstToken * 1000)) }
    }
}

/// Builds the response bodies of one completion (ids and names fixed at the start).
struct Reply: Sendable {
    let kind: CompletionService.Kind
    let id: String
    let created: Int
    let model: String
    let parameters: CompletionParameters
    /// Names the tokens of log-probabilities.
    let tokenizer: Tokenizer
    /// Completions' `echo`: the prompt as given, which the answer starts with.
    let echo: Echo?

    struct Echo: Sendable {
        let text: String
        let tokens: [Int]
    }
    let fingerprint = "memory3"
    let toolCallID = CompletionIDs.make(prefix: "call_")

    /// Completions' log-probabilities: with `echo`, the prompt's tokens first (the first has none).
    func textLogprobs(_ outcome: CompletionOutcome) -> LogprobsResponses.Text? {
        guard parameters.logprobs != nil else { return nil }
        guard let echo else { return LogprobsResponses.text(outcome.logprobs, tokenizer: tokenizer) }
        // The prompt read may begin with retrieved text (text mode): the request's own tokens are its end.
        let own = Array(outcome.promptLogprobs.suffix(max(echo.tokens.count - 1, 0)))
        return LogprobsResponses.text(outcome.logprobs, prompt: echo.tokens, promptLogprobs: own, tokenizer: tokenizer)
    }

    /// The tool call the answer (choice `index`) is, when tools were offered and the model wrote one.
    func toolCall(_ outcome: CompletionOutcome, index: Int = 0) -> ToolCallResponse? {
        guard kind == .chat, parameters.tools != nil, let call = ToolSet.call(in: outcome.text) else { return nil }
        return ToolCallResponse(id: toolCallID + (index == 0 ? "" : "_\(index)"), function: .init(name: call.name, arguments: call.arguments))
    }

    func finishName(_ outcome: CompletionOutcome) -> String {
        toolCall(outcome) != nil ? "tool_calls" : finishReasonName(outcome.finishReason)
    }

    /// The whole answer: one choice per outcome (`n`), the prompt counted once in the usage; the
    /// memory report is the first choice's.
    func whole(_ outcomes: [CompletionOutcome]) -> any Encodable & Sendable {
        let usage = Usage(outcomes)
        switch kind {
        case .chat:
            let choices = outcomes.enumerated().map { index, outcome in
                let call = toolCall(outcome, index: index)
                let message = ChatCompletion.Message(role: "assistant", content: Nullable(call == nil ? outcome.text : nil),
                                                     tool_calls: call.map { [$0] })
                return ChatCompletion.Choice(index: index, message: message, finish_reason: finishName(outcome),
                                             logprobs: Nullable(parameters.logprobs == nil ? nil : LogprobsResponses.chat(outcome.logprobs, tokenizer: tokenizer)))
            }
            return ChatCompletion(id: id, created: created, model: model, system_fingerprint: fingerprint,
                                  choices: choices, usage: usage, memory: MemoryReport(outcomes[0]))
        case .text:
            let choices = outcomes.enumerated().map { index, outcome in
                TextCompletion.Choice(index: index, text: (echo?.text ?? "") + outcome.text, finish_reason: Nullable(finishName(outcome)),
                                      logprobs: Nullable(textLogprobs(outcome)))
            }
            return TextCompletion(id: id, created: created, model: model, system_fingerprint: fingerprint,
                                  choices: choices, usage: Nullable(usage), memory: MemoryReport(outcomes[0]))
        }
    }

    /// A chunk carrying text (and, for the first chat chunk, the role).
    /// Whether a stream sends each delta's log-probabilities with it (not with echo: the
    /// prompt's are known only at the end, so an echoed stream sends them all in its last chunk).
    var streamsLogprobs: Bool { parameters.logprobs != nil && echo == nil }

    /// A chunk carrying text (and, for the first chat chunk, the role); with `logprobs`, those of
    /// the tokens behind it (`offset`: where its text starts in the answer, for completions).
    func chunk(role: String? = nil, text: String, finish: String? = nil, logprobs: [TokenLogprob]? = nil,
               offset: Int = 0) -> any Encodable & Sendable {
        let usage: Nullable<Usage>? = parameters.includeUsage ? Nullable(nil) : nil
        let entries = streamsLogprobs ? logprobs : nil
        switch kind {
        case .chat:
            return ChatCompletionChunk(
                id: id, created: created, model: model, system_fingerprint: fingerprint,
                choices: [.init(index: 0, delta: .init(role: role, content: finish == nil ? text : nil),
                                finish_reason: Nullable(finish), logprobs: Nullable(entries.map { LogprobsResponses.chat($0, tokenizer: tokenizer) }))],
                usage: usage)
        case .text:
            return TextCompletion(
                id: id, created: created, model: model, system_fingerprint: fingerprint,
                choices: [.init(index: 0, text: text, finish_reason: Nullable(finish),
                                logprobs: Nullable(entries.map { LogprobsResponses.text($0, tokenizer: tokenizer, offset: offset) }))],
                usage: usage)
        }
    }

    /// The chunk with the finish reason; it also names the memories used and, when asked for,
    /// carries the log-probabilities not sent with a delta yet (`sent`: how many were), which
    /// are all of them with echo (clients that add up the chunks' `logprobs` get them all).
    func finalChunk(_ outcome: CompletionOutcome, sent: Int = 0, offset: Int = 0) -> any Encodable & Sendable {
        let finish = finishName(outcome)
        let usage: Nullable<Usage>? = parameters.includeUsage ? Nullable(nil) : nil
        let rest = Array(outcome.logprobs.dropFirst(streamsLogprobs ? sent : 0))
        switch kind {
        case .chat:
            return ChatCompletionChunk(
                id: id, created: created, model: model, system_fingerprint: fingerprint,
                choices: [.init(index: 0, delta: .init(), finish_reason: Nullable(finish),
                                logprobs: Nullable(parameters.logprobs == nil ? nil : LogprobsResponses.chat(rest, tokenizer: tokenizer)))],
                usage: usage, memory: MemoryReport(outcome))
        case .text:
            let entries = streamsLogprobs ? (parameters.logprobs == nil ? nil : LogprobsResponses.text(rest, tokenizer: tokenizer, offset: offset))
                : textLogprobs(outcome)
            return TextCompletion(
                id: id, created: created, model: model, system_fingerprint: fingerprint,
                choices: [.init(index: 0, text: "", finish_reason: Nullable(finish), logprobs: Nullable(entries))],
                usage: usage, memory: MemoryReport(outcome))
        }
    }

    /// A delta of a streamed tool call (see `ToolCallDelta`).
    func toolCallChunk(_ delta: ToolCallDelta) -> any Encodable & Sendable {
        ChatCompletionChunk(
            id: id, created: created, model: model, system_fingerprint: fingerprint,
            choices: [.init(index: 0, delta: .init(tool_calls: [delta]), finish_reason: Nullable(nil), logprobs: Nullable(nil))],
            usage: parameters.includeUsage ? Nullable(nil) : nil)
    }

    /// The last event with `stream_options.include_usage`: no choices, the usage, the memories.
    func usageChunk(_ outcome: CompletionOutcome) -> any Encodable & Sendable {
        switch kind {
        case .chat:
            return ChatCompletionChunk(id: id, created: created, model: model, system_fingerprint: fingerprint,
                                       choices: [], usage: Nullable(Usage(outcome)), memory: MemoryReport(outcome))
        case .text:
            return TextCompletion(id: id, created: created, model: model, system_fingerprint: fingerprint,
                                  choices: [], usage: Nullable(Usage(outcome)), memory: MemoryReport(outcome))
        }
    }
}
