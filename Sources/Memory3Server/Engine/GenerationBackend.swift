import Memory3Engine
import Memory3Model

/// A running generation as the scheduler sees it: it is advanced by its backend's steps, hands
/// over its text as it comes, and has an outcome once finished.
public protocol ServingSequence: AnyObject {
    var isFinished: Bool { get }
    /// Still reading its prompt (it then takes from the step's prompt budget).
    var isReadingPrompt: Bool { get }
    /// Prompt tokens not read yet (0 once generating).
    var promptTokensLeft: Int { get }
    /// The text produced since the last call.
    func takeText() -> String
    /// The log-probabilities of the tokens generated since the last call (when asked for).
    func takeLogprobs() -> [TokenLogprob]
    /// Ends it now (client gone, deadline); it finishes with `reason`.
    func stop(_ reason: FinishReason)
    /// Its outcome, once finished.
    var outcome: Result<CompletionOutcome, any Error> { get }
}

/// What the scheduler runs: sequences it starts in free slots, then advances together, one
/// batched step at a time. The model backend is `ModelBackend`; tests script their own.
public protocol GenerationBackend: AnyObject, Sendable {
    /// A sequence for `job`, ready to step (throws when the job cannot run: too long, ...).
    func start(_ job: CompletionJob) throws -> any ServingSequence
    /// One step over `sequences` (all unfinished, all started here): generating ones feed their
    /// next token, reading ones share `promptBudget` prompt tokens in the order given.
    func step(_ sequences: [any ServingSequence], promptBudget: Int) -> StepSummary
    /// A finished sequence left its slot; its key/values may serve a later prompt.
    func release(_ sequence: any ServingSequence)
    /// `sequence` has read its prompt and `copies` more sequences of the same prompt (a
    /// request's other choices, `n`) start next: leave them its prompt's key/values to reuse.
    func share(_ sequence: any ServingSequence, copies: Int)
}

extension GenerationBackend {
    public func share(_ sequence: any ServingSequence, copies: Int) {}
}

extension ServingSequence {
    public func takeLogprobs() -> [TokenLogprob] { [] }
}

/// What one step did, for metrics.
public struct StepSummary: Sendable {
    public var sequences = 0
    public var promptTokens = 0
    public var generatedTokens = 0

    public init(sequences: Int = 0, promptTokens: Int = 0, generatedTokens: Int = 0) {
        self.sequences = sequences
        self.promptTokens = promptTokens
        self.generatedTokens = generatedTokens
    }
}

/// The model's backend: `SequenceBatcher` (one batched forward per step, explicit memory per
/// sequence) with a prompt cache.
public final class ModelBackend: GenerationBackend, @unchecked Sendable {
    public let batcher: SequenceBatcher

    public init(batcher: SequenceBatcher) {
        self.batcher = batcher
    }

    final class Sequence: ServingSequence {
        let sequence: GenerationSequence
        init(_ sequence: GenerationSequence) { self.sequence = sequence }
        var isFinished: Bool { sequence.isFinished }
        var isReadingPrompt: Bool { sequence.phase == .readingPrompt }
        var promptTokensLeft: Int { sequence.promptTokensLeft }
        func takeText() -> String { sequence.takeText() }
        func takeLogprobs() -> [TokenLogprob] { sequence.takeLogprobs() }
        func stop(_ reason: FinishReason) { sequence.stop(reason) }
        var outcome: Result<CompletionOutcome, any Error> {
            if let failure = sequence.failure { return .failure(failure) }
            return .success(CompletionOutcome(sequence.result, memoryMode: sequence.request.memoryMode,
                                              chunks: sequence.records, retrievalSeconds: sequence.retrievalSeconds))
        }
    }

    public func start(_ job: CompletionJob) throws -> any ServingSequence {
        Sequence(try batcher.makeSequence(job))
    }

    public func step(_ sequences: [any ServingSequence], promptBudget: Int) -> StepSummary {
        let report = batcher.step(sequences.map { ($0 as! Sequence).sequence }, promptBudget: promptBudget)
        return StepSummary(sequences: report.sequences, promptTokens: report.promptTokens, generatedTokens: report.generatedTokens)
    }

    public func release(_ sequence: any ServingSequence) {
        batcher.release((sequence as! Sequence).sequence)
    }

    public func share(_ sequence: any ServingSequence, copies: Int) {
        batcher.share((sequence as! Sequence).sequence, copies: copies)
    }
}
