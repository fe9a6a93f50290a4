import Foundation
import Memory3Model
import Tokenizer

/// One generation as state: everything a request needs between steps (its KV cache, how its
/// context is read, sampler and RNG, stop matcher, streaming detokenizer, what it produced). It
/// moves through phases (reading its prompt, generating, finished) one step at a time;
/// `SequenceBatcher` advances many together.
public final class GenerationSequence {
    public enum Phase: Sendable, Equatable {
        case readingPrompt
        case generating
        case finished
    }

    public let request: GenerationRequest
    /// The tokens read before generating: the request's prompt, after the retrieved text in
    /// text (RAG) mode.
    public let prompt: [Int]
    /// Which of `prompt` may be part of a retrieval query (nil: all).
    let retrievable: [Bool]?
    public private(set) var phase: Phase = .readingPrompt
    let cache: KVCache
    let reader: ContextReader
    /// Prompt tokens in the cache so far.
    private(set) var promptRead: Int
    /// The token sampled last, to be fed by the next step.
    private(set) var nextToken: Int?
    private var sampler: Sampler
    /// The tokenizer's end-of-generation ids (even when `ignore_eos` does not stop at them).
    private let endOfGenerationIds: Set<Int>
    private var detokenizer: StreamingDetokenizer
    private var stops: StopSequenceMatcher
    private let endOfGeneration: Set<Int>
    /// Prompt and generated tokens, for the sampler's penalties.
    private var history: [Int]
    public private(set) var result: GenerationResult
    /// Why the sequence failed, when it did (it is then finished).
    public private(set) var failure: (any Error)?
    /// Text produced and not yet taken.
    private var pendingText = ""
    private var started: Double?
    private var firstSampled: Double?

    init(request: GenerationRequest, prompt: [Int], retrievable: [Bool]?, cache: KVCache, reader: ContextReader,
         cachedPromptTokens: Int, tokenizer: Tokenizer) {
        self.request = request
        self.prompt = prompt
        self.retrievable = retrievable
        self.cache = cache
        self.reader = reader
        self.promptRead = cachedPromptTokens
        self.sampler = Sampler(request.options.sampling)
        self.detokenizer = StreamingDetokenizer(tokenizer: tokenizer)
        self.stops = StopSequenceMatcher(stops: request.options.stop)
        self.endOfGeneration = request.options.stopAtEndOfGeneration ? tokenizer.endOfGenerationIds : []
        self.endOfGenerationIds = tokenizer.endOfGenerationIds
        self.history = prompt
        self.result = GenerationResult(text: "", tokens: [], promptTokenCount: prompt.count, cachedPromptTokens: cachedPromptTokens,
                                       finishReason: .length, seed: sampler.seed, prefillSeconds: 0, decodeSeconds: 0)
    }

    /// Which memories each chunk of the context read (empty without memory).
    public var records: [ChunkRecord] { reader.records }
    public var retrievalSeconds: Double { reader.retrievalSeconds }
    public var isFinished: Bool { phase == .finished }
    /// Prompt tokens not read yet.
    public var promptTokensLeft: Int { phase == .readingPrompt ? prompt.count - promptRead : 0 }

    /// Log-probabilities of the tokens generated since the last call (when asked for).
    public func takeLogprobs() -> [TokenLogprob] {
        defer { logprobsTaken = result.logprobs.count }
        return Array(result.logprobs[logprobsTaken...])
    }
    private var logprobsTaken = 0

    /// The text produced since the last call.
    public func takeText() -> String {
        defer { pendingText = "" }
        return pendingText
    }

    /// Stops the sequence now (the caller went away, a deadline): it ends with `reason`.
    public func stop(_ reason: FinishReason = .cancelled) {
        guard phase != .finished else { return }
        finish(reason, flush: false)
    }

    /// Ends the sequence with an error.
    func fail(_ error: any Error) {
        guard phase != .finished else { return }
        failure = error
        finish(.cancelled, flush: false)
    }

    // MARK: Steps (driven by SequenceBatcher)

    /// The tokens this sequence feeds in the next step, within `budget` prompt tokens: its next
    /// token when generating, else a piece of its prompt (nil: nothing this step).
    func nextInput(promptBudget budget: Int, maxTokens: Int) -> (tokens: [Int], promptPiece: Range<Int>?)? {
        switch phase {
        case .finished:
            return nil
        case .generating:
            return nextToken.map { ([$0], nil) }
        case .readingPrompt:
            guard budget > 0 else { return nil }
            let count = reader.promptPiece(from: promptRead, promptCount: prompt.count, limit: min(budget, maxTokens))
            guard count > 0 else { return nil }
            let piece = promptRead ..< promptRead + count
            return (Array(prompt[piece]), piece)
        }
    }

    func markStarted(now: Double) {
        if started == nil { started = now }
    }

    /// `tokens` went into the cache; `logits` are those after the last of them when it asked.
    func didFeed(_ tokens: [Int], promptPiece: Range<Int>?, logits: [Float], now: Double) {
        var logits = logits
        if let piece = promptPiece, request.options.promptLogprobs {
            // Every row came back: each predicts the prompt token after it; the prompt's last
            // row is the one generation samples from.
            let vocabulary = logits.count / max(piece.count, 1)
            for (j, position) in piece.enumerated() where position + 1 < prompt.count {
                result.promptLogprobs.append(TokenLogprob.of(prompt[position + 1], logits: logits[j * vocabulary ..< (j + 1) * vocabulary],
                                                             top: request.options.logprobs ?? 0))
            }
            logits = piece.upperBound == prompt.count ? Array(logits[(piece.count - 1) * vocabulary ..< piece.count * vocabulary]) : []
        }
        if let piece = promptPiece {
            reader.didFeed(tokens, retrievable: retrievable.map { Array($0[piece]) }, generated: false)
            promptRead = piece.upperBound
            guard promptRead == prompt.count else { return }
            result.prefillSeconds = now - (started ?? now)
            firstSampled = now
            guard request.options.maxTokens > 0 else {
                finish(.length, flush: true, now: now)
                return
            }
            phase = .generating
        } else {
            reader.didFeed(tokens, retrievable: nil, generated: true)
        }
        sample(logits, now: now)
    }

    private func sample(_ logits: [Float], now: Double) {
        var sampled = logits
        if let constraint = request.options.constraint {
            let remaining = min(request.options.maxTokens - result.tokens.count, cache.capacity - cache.count + 1)
            constraint.mask(&sampled, endOfGeneration: endOfGenerationIds, remainingTokens: remaining)
        }
        let token = sampler.sample(&sampled, history: history)
        if endOfGeneration.contains(token) {
            finish(.endOfSequence, flush: true, now: now)
            return
        }
        if let count = request.options.logprobs {
            result.logprobs.append(TokenLogprob.of(token, logits: logits, top: count))
        }
        result.tokens.append(token)
        history.append(token)
        let (text, stopped) = stops.feed(detokenizer.append(token))
        emit(text)
        if stopped {
            finish(.stopString, flush: false, now: now)
            return
        }
        if let constraint = request.options.constraint {
            constraint.advance(token: token)
            // The JSON value is whole: nothing may follow it.
            if constraint.isComplete {
                finish(.endOfSequence, flush: true, now: now)
                return
            }
        }
        guard result.tokens.count < request.options.maxTokens, cache.count < cache.capacity else {
            finish(.length, flush: true, now: now)
            return
        }
        nextToken = token
    }

    private func emit(_ text: String) {
        guard !text.isEmpty else { return }
        result.text += text
        pendingText += text
    }

    private func finish(_ reason: FinishReason, flush: Bool, now: Double = Date().timeIntervalSinceReferenceDate) {
        result.finishReason = reason
        if flush {
            // The detokenizer's held-back bytes and the stop matcher's held-back text.
            let (tail, stopped) = stops.feed(detokenizer.finish())
            if stopped { result.finishReason = .stopString }
            emit(tail + (stopped ? "" : stops.flush()))
        }
        if let firstSampled { result.decodeSeconds = now - firstSampled }
        else if let started, phase == .readingPrompt { result.prefillSeconds = now - started }
        nextToken = nil
        phase = .finished
    }
}
