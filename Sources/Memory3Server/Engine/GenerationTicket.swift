import Foundation
import Memory3Engine
import Synchronization

/// One admitted generation: the worker thread pushes text and the outcome into it, the
/// request's thread takes them out and may cancel it (a client that went away, a deadline).
public final class GenerationTicket: @unchecked Sendable {
    /// What the request thread gets from `next`: text produced since the last call, and the
    /// outcome once the generation ended.
    public struct Update {
        public var pieces: [String]
        /// The log-probabilities of the tokens behind each piece (when asked for; a token whose
        /// text is still held back, half a character or a possible stop string, comes with a
        /// later piece).
        public var logprobs: [[TokenLogprob]] = []
        public var end: Result<CompletionOutcome, any Error>?
    }

    public let job: CompletionJob
    /// Monotonic time after which the worker stops the generation (or never starts it).
    public let deadline: Double
    public let enqueuedAt: Double

    private let condition = NSCondition()
    private var pieces: [String] = []
    private var pieceLogprobs: [[TokenLogprob]] = []
    /// Log-probabilities of tokens whose text has not come yet.
    private var heldLogprobs: [TokenLogprob] = []
    private var end: Result<CompletionOutcome, any Error>?
    private let cancelled = Atomic<Bool>(false)
    private let deadlineHit = Atomic<Bool>(false)
    private var started: Double?
    private var firstText: Double?

    init(job: CompletionJob, deadline: Double, now: Double = MonotonicClock.now()) {
        self.job = job
        self.deadline = deadline
        self.enqueuedAt = now
    }

    /// Asks the worker to stop (or skip) this generation; it ends with finish reason `cancelled`.
    public func cancel() { cancelled.store(true, ordering: .relaxed) }
    public var isCancelled: Bool { cancelled.load(ordering: .relaxed) }
    /// Whether the generation was stopped by its deadline.
    public var hitDeadline: Bool { deadlineHit.load(ordering: .relaxed) }

    /// When the worker started it, and when its first text came (monotonic seconds).
    public var startedAt: Double? { condition.withLock { started } }
    public var firstTextAt: Double? { condition.withLock { firstText } }

    /// Waits up to `timeout` seconds for text or the end.
    public func next(timeout: Double) -> Update {
        condition.lock()
        defer { condition.unlock() }
        if pieces.isEmpty && end == nil {
            _ = condition.wait(until: Date(timeIntervalSinceNow: timeout))
        }
        let update = Update(pieces: pieces, logprobs: pieceLogprobs, end: end)
        pieces.removeAll()
        pieceLogprobs.removeAll()
        return update
    }

    // MARK: worker side

    func markStarted() { condition.withLock { started = MonotonicClock.now() } }

    /// Called by the worker for each piece of text (and the log-probabilities of the tokens
    /// generated since the last piece); false asks the generator to stop.
    func emit(_ text: String, logprobs: [TokenLogprob] = []) -> Bool {
        condition.lock()
        heldLogprobs += logprobs
        if !text.isEmpty {
            if firstText == nil { firstText = MonotonicClock.now() }
            pieces.append(text)
            pieceLogprobs.append(heldLogprobs)
            heldLogprobs = []
            condition.signal()
        }
        condition.unlock()
        return shouldContinue()
    }

    func shouldContinue() -> Bool {
        if isCancelled { return false }
        if MonotonicClock.now() >= deadline {
            deadlineHit.store(true, ordering: .relaxed)
            return false
        }
        return true
    }

    func finish(_ result: Result<CompletionOutcome, any Error>) {
        condition.lock()
        end = result
        condition.broadcast()
        condition.unlock()
    }
}
