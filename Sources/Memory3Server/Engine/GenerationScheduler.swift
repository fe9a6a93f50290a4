import Foundation

/// Runs generations one at a time on a dedicated worker thread, fed by a bounded FIFO queue.
/// The model is one instance and a generation keeps both cores busy, so requests wait their
/// turn here instead of competing; past `queueCapacity` waiting requests, new ones are refused
/// with 429 and a Retry-After estimated from recent generation times.
///
/// Background tasks (document ingestion) run on the same worker, one small step at a time and
/// only while no generation waits, so a completion never waits for more than one step.
public final class GenerationScheduler: @unchecked Sendable {
    public let queueCapacity: Int
    private let condition = NSCondition()
    private var waiting: [(GenerationTicket, GenerateFunction)] = []
    private var background: [any BackgroundTask] = []
    private var running: GenerationTicket?
    private var stopped = false
    /// Moving average of generation seconds, for Retry-After.
    private var averageSeconds = 2.0
    private var thread: Thread?
    /// Called with (queued, running) whenever either changes.
    private let onChange: @Sendable (Int, Int) -> Void

    public init(queueCapacity: Int, onChange: @escaping @Sendable (Int, Int) -> Void = { _, _ in }) {
        self.queueCapacity = max(0, queueCapacity)
        self.onChange = onChange
        let thread = Thread { [self] in workerLoop() }
        thread.name = "generation"
        thread.stackSize = 8 << 20
        self.thread = thread
        thread.start()
    }

    /// Requests waiting for the worker.
    public var queueDepth: Int { condition.withLock { waiting.count } }
    public var isGenerating: Bool { condition.withLock { running != nil } }
    /// Background tasks not finished yet.
    public var backgroundDepth: Int { condition.withLock { background.count } }

    /// Queues a background task; it runs step by step whenever no generation waits.
    public func submitBackground(_ task: any BackgroundTask) {
        condition.withLock {
            background.append(task)
            condition.signal()
        }
    }

    /// Admits a job, or refuses it with `.queueFull` (429) when `queueCapacity` jobs already wait.
    public func submit(_ job: CompletionJob, deadline: Double, generate: @escaping GenerateFunction) throws(APIError) -> GenerationTicket {
        condition.lock()
        guard !stopped else {
            condition.unlock()
            throw .shuttingDown
        }
        // The worker being idle means the job starts at once, whatever the capacity.
        guard waiting.count < queueCapacity || (running == nil && waiting.isEmpty) else {
            let retry = Int(min(60, max(1, (averageSeconds * Double(waiting.count + 1)).rounded(.up))))
            condition.unlock()
            throw .queueFull(capacity: queueCapacity, retryAfter: retry)
        }
        let ticket = GenerationTicket(job: job, deadline: deadline)
        waiting.append((ticket, generate))
        let counts = (waiting.count, running == nil ? 0 : 1)
        condition.signal()
        condition.unlock()
        onChange(counts.0, counts.1)
        return ticket
    }

    /// Cancels one generation: a queued one leaves the queue at once (its slot is free for the
    /// next request), a running one stops at its next token.
    public func cancel(_ ticket: GenerationTicket) {
        ticket.cancel()
        let removed = condition.withLock { () -> (Bool, Int, Int) in
            let before = waiting.count
            waiting.removeAll { $0.0 === ticket }
            return (waiting.count < before, waiting.count, running == nil ? 0 : 1)
        }
        if removed.0 {
            ticket.finish(.failure(GenerationSkipped.cancelled))
            onChange(removed.1, removed.2)
        }
    }

    /// Cancels everything queued and running (shutdown past its grace period).
    public func cancelAll() {
        condition.withLock {
            running?.cancel()
            for (ticket, _) in waiting { ticket.cancel() }
        }
    }

    /// Stops the worker after the current generation; queued jobs end as cancelled.
    public func stop() {
        condition.withLock {
            stopped = true
            for (ticket, _) in waiting { ticket.cancel() }
            condition.broadcast()
        }
    }

    private func workerLoop() {
        while true {
            condition.lock()
            while waiting.isEmpty && background.isEmpty && !stopped { condition.wait() }
            if waiting.isEmpty && stopped {
                let abandoned = background
                background.removeAll()
                condition.unlock()
                for task in abandoned { task.abandon() }
                return
            }
            if waiting.isEmpty, let task = background.first {
                condition.unlock()
                let more = task.step()
                if !more { condition.withLock { background.removeAll { $0 === task } } }
                continue
            }
            let (ticket, generate) = waiting.removeFirst()
            running = ticket
            let counts = (waiting.count, 1)
            condition.unlock()
            onChange(counts.0, counts.1)

            run(ticket, generate)

            condition.lock()
            running = nil
            let after = (waiting.count, 0)
            condition.unlock()
            onChange(after.0, after.1)
        }
    }

    private func run(_ ticket: GenerationTicket, _ generate: GenerateFunction) {
        if ticket.isCancelled {
            ticket.finish(.failure(GenerationSkipped.cancelled))
            return
        }
        guard ticket.shouldContinue() else {
            ticket.finish(.failure(GenerationSkipped.deadlinePassedInQueue))
            return
        }
        ticket.markStarted()
        let start = MonotonicClock.now()
        do {
            let outcome = try generate(ticket.job) { ticket.emit($0) }
            ticket.finish(.success(outcome))
        } catch {
            ticket.finish(.failure(error))
        }
        let seconds = MonotonicClock.now() - start
        condition.withLock { averageSeconds = averageSeconds * 0.8 + seconds * 0.2 }
    }
}

/// Why the worker did not run a generation.
public enum GenerationSkipped: Error, Equatable {
    case cancelled
    case deadlinePassedInQueue
}
