import Foundation
import Memory3Engine
import Memory3Model

/// Serves many generations at once: admitted requests take one of `slots`, and one thread
/// advances every slot together, one batched step at a time (the next token of every generating
/// sequence plus up to `promptBudget` prompt tokens of the sequences reading their prompts), so a
/// long prompt never holds up the others' tokens for more than one step.
///
/// The prompt budget goes to the reading sequences in turn: the one at the head of the turn
/// reads first, and keeps the head until its prompt is read or it has read `prefillQuantum`
/// tokens there, then goes to the back. Prompts shorter than the quantum are thus read first come
/// first served (the lowest time to first token overall), and a long prompt cannot hold the
/// others back for more than a quantum.
///
/// Admission is FIFO: beyond the slots, requests wait in a bounded queue (429 with a Retry-After
/// from measured sequence times beyond `queueCapacity`). A request also waits while its key/values
/// would not fit the KV budget beside the running ones. A cancelled request (client gone) or one
/// past its deadline leaves its slot at the next step, in any phase.
///
/// Background tasks (document ingestion) run on the same thread, one small step at a time, only
/// while no generation runs or waits.
public final class GenerationScheduler: @unchecked Sendable {
    public let queueCapacity: Int
    /// Prompt tokens read per step, across the sequences reading prompts.
    public let promptBudget: Int
    /// Prompt tokens a sequence reads at the head of the turn before the next one's turn.
    public let prefillQuantum: Int

    private struct Waiting {
        let ticket: GenerationTicket
        let backend: any GenerationBackend
        let kvBytes: Int
    }

    private final class Running {
        let ticket: GenerationTicket
        let sequence: any ServingSequence
        let backend: any GenerationBackend
        let kvBytes: Int
        var lastTokenAt: Double?
        /// Prompt tokens read while at the head of the prefill turn.
        var readAsHead = 0

        init(ticket: GenerationTicket, sequence: any ServingSequence, backend: any GenerationBackend, kvBytes: Int) {
            self.ticket = ticket
            self.sequence = sequence
            self.backend = backend
            self.kvBytes = kvBytes
        }
    }

    private let condition = NSCondition()
    private var waiting: [Waiting] = []
    private var running: [Running] = []
    private var background: [any BackgroundTask] = []
    private var stopped = false
    /// Slots and the KV budget (set when the model is known).
    private var slotCount: Int
    private var kvBudgetBytes: Int
    /// Moving average of a sequence's seconds in its slot, for Retry-After.
    private var averageSeconds = 2.0
    /// Sequences reading their prompts, in turn order (the head reads first).
    private var readingTurn: [Running] = []
    private var steps = 0
    private let metrics: ServerMetrics?

    public init(slots: Int = 4, queueCapacity: Int, promptBudget: Int = 128, prefillQuantum: Int = 512,
                kvBudgetBytes: Int = .max, metrics: ServerMetrics? = nil) {
        self.slotCount = max(1, slots)
        self.queueCapacity = max(0, queueCapacity)
        self.promptBudget = max(1, promptBudget)
        self.prefillQuantum = max(1, prefillQuantum)
        self.kvBudgetBytes = kvBudgetBytes
        self.metrics = metrics
        let thread = Thread { [self] in stepLoop() }
        thread.name = "generation"
        thread.stackSize = 8 << 20
        thread.start()
        publishCounts()
    }

    /// Sets how many sequences run at once and the bytes their key/values may take together.
    public func configure(slots: Int, kvBudgetBytes: Int) {
        condition.withLock {
            slotCount = max(1, slots)
            self.kvBudgetBytes = kvBudgetBytes
            condition.signal()
        }
        publishCounts()
    }

    public var slots: Int { condition.withLock { slotCount } }
    /// Requests waiting for a slot.
    public var queueDepth: Int { condition.withLock { waiting.count } }
    /// Whether any generation holds a slot.
    public var isGenerating: Bool { condition.withLock { !running.isEmpty } }
    /// Generations holding a slot.
    public var runningCount: Int { condition.withLock { running.count } }
    /// Background tasks not finished yet.
    public var backgroundDepth: Int { condition.withLock { background.count } }
    /// Batched steps run so far.
    public var stepCount: Int { condition.withLock { steps } }

    /// Queues a background task; it runs step by step whenever no generation runs or waits.
    public func submitBackground(_ task: any BackgroundTask) {
        condition.withLock {
            background.append(task)
            condition.signal()
        }
    }

    /// Admits a job, or refuses it with `.queueFull` (429) when `queueCapacity` jobs already wait.
    /// `kvBytes`: what its key/values will take (0: not counted).
    public func submit(_ job: CompletionJob, deadline: Double, kvBytes: Int = 0,
                       backend: any GenerationBackend) throws(APIError) -> GenerationTicket {
        try enqueue(job, siblings: [], deadline: deadline, kvBytes: kvBytes, backend: backend)[0]
    }

    /// Queues `job`, and holds `siblings` for it (see `submit(choices:)`), in one critical
    /// section, so that the lead cannot start before its siblings are attached.
    private func enqueue(_ job: CompletionJob, siblings: [CompletionJob], deadline: Double, kvBytes: Int,
                         backend: any GenerationBackend) throws(APIError) -> [GenerationTicket] {
        condition.lock()
        guard !stopped else {
            condition.unlock()
            throw .shuttingDown
        }
        // A free slot and an empty queue mean the job starts at once, whatever the capacity.
        guard waiting.count < queueCapacity || (running.count < slotCount && waiting.isEmpty) else {
            let rounds = Double(waiting.count + 1) / Double(slotCount)
            let retry = Int(min(60, max(1, (averageSeconds * max(rounds, 1)).rounded(.up))))
            condition.unlock()
            throw .queueFull(capacity: queueCapacity, retryAfter: retry)
        }
        let ticket = GenerationTicket(job: job, deadline: deadline)
        let held = siblings.map { Waiting(ticket: GenerationTicket(job: $0, deadline: deadline), backend: backend, kvBytes: kvBytes) }
        if !held.isEmpty { heldSiblings[ObjectIdentifier(ticket)] = held }
        waiting.append(Waiting(ticket: ticket, backend: backend, kvBytes: kvBytes))
        condition.signal()
        condition.unlock()
        publishCounts()
        return [ticket] + held.map(\.ticket)
    }

    /// Admits the choices of one request (`n`): the first is queued as usual; the others wait
    /// until it has read the prompt, then start at the head of the queue from a copy of its
    /// prompt's key/values (they read only the last prompt token again). All or none are
    /// admitted.
    public func submit(choices jobs: [CompletionJob], deadline: Double, kvBytes: Int = 0,
                       backend: any GenerationBackend) throws(APIError) -> [GenerationTicket] {
        guard let first = jobs.first else { return [] }
        return try enqueue(first, siblings: Array(jobs.dropFirst()), deadline: deadline, kvBytes: kvBytes, backend: backend)
    }

    /// A request's other choices (`n`), by its first ticket, until that one has read the
    /// prompt and left its key/values for them, or ended without running.
    private var heldSiblings: [ObjectIdentifier: [Waiting]] = [:]

    /// Queues `siblings` at the head of the queue (their lead read the prompt, or ended).
    private func release(siblings: [Waiting]) {
        guard !siblings.isEmpty else { return }
        condition.withLock {
            waiting.insert(contentsOf: siblings.filter { !$0.ticket.isCancelled }, at: 0)
            condition.signal()
        }
        for sibling in siblings where sibling.ticket.isCancelled { sibling.ticket.finish(.failure(GenerationSkipped.cancelled)) }
        publishCounts()
    }

    /// Cancels one generation: a queued one leaves the queue at once, a running one leaves its
    /// slot at the next step.
    public func cancel(_ ticket: GenerationTicket) {
        ticket.cancel()
        var orphans: [Waiting] = []
        let removed = condition.withLock { () -> Bool in
            let before = waiting.count
            waiting.removeAll { $0.ticket === ticket }
            if waiting.count < before { orphans = heldSiblings.removeValue(forKey: ObjectIdentifier(ticket)) ?? [] }
            var held = false
            for key in heldSiblings.keys where heldSiblings[key]!.contains(where: { $0.ticket === ticket }) {
                heldSiblings[key]!.removeAll { $0.ticket === ticket }
                held = true
            }
            condition.signal()
            return waiting.count < before || held
        }
        if removed {
            ticket.finish(.failure(GenerationSkipped.cancelled))
            // Its held choices no longer wait for it.
            release(siblings: orphans)
            publishCounts()
        }
    }

    /// Cancels everything queued and running (shutdown past its grace period).
    public func cancelAll() {
        condition.withLock {
            for r in running { r.ticket.cancel() }
            for w in waiting { w.ticket.cancel() }
            condition.signal()
        }
    }

    /// Stops taking work; queued jobs end as cancelled, running ones finish (or are cancelled by
    /// `cancelAll`), then the thread ends.
    public func stop() {
        condition.withLock {
            stopped = true
            for w in waiting { w.ticket.cancel() }
            for held in heldSiblings.values { for w in held { w.ticket.cancel(); w.ticket.finish(.failure(GenerationSkipped.cancelled)) } }
            heldSiblings.removeAll()
            condition.broadcast()
        }
    }

    // MARK: The step loop

    private func stepLoop() {
        while true {
            condition.lock()
            while waiting.isEmpty && running.isEmpty && background.isEmpty && !stopped { condition.wait() }
            if stopped && running.isEmpty {
                let abandoned = background, dropped = waiting
                background.removeAll()
                waiting.removeAll()
                condition.unlock()
                for w in dropped { w.ticket.finish(.failure(GenerationSkipped.cancelled)) }
                for task in abandoned { task.abandon() }
                publishCounts()
                return
            }
            let admitted = admit()
            let idle = running.isEmpty && admitted.isEmpty && waiting.isEmpty
            let task = idle ? background.first : nil
            condition.unlock()

            for w in admitted { start(w) }
            if let task {
                if !task.step() { condition.withLock { background.removeAll { $0 === task } } }
                continue
            }
            step()
        }
    }

    /// Takes queued jobs, first come first served, while slots and the KV budget allow (the
    /// first always starts when no slot is busy). Called with the lock held.
    private func admit() -> [Waiting] {
        var admitted: [Waiting] = []
        var bytes = running.reduce(0) { $0 + $1.kvBytes }
        while let next = waiting.first, running.count + admitted.count < slotCount {
            let busy = !running.isEmpty || !admitted.isEmpty
            guard !busy || bytes + next.kvBytes <= kvBudgetBytes else { break }
            bytes += next.kvBytes
            admitted.append(waiting.removeFirst())
        }
        return admitted
    }

    private func start(_ w: Waiting) {
        let ticket = w.ticket
        // A request's held choices run on their own when its first does not run.
        let releaseSiblings = { self.release(siblings: self.condition.withLock { self.heldSiblings.removeValue(forKey: ObjectIdentifier(ticket)) ?? [] }) }
        if ticket.isCancelled {
            ticket.finish(.failure(GenerationSkipped.cancelled))
            releaseSiblings()
            publishCounts()
            return
        }
        guard ticket.shouldContinue() else {
            ticket.finish(.failure(GenerationSkipped.deadlinePassedInQueue))
            releaseSiblings()
            publishCounts()
            return
        }
        ticket.markStarted()
        if let queued = ticket.startedAt { metrics?.recordQueueWait(queued - ticket.enqueuedAt) }
        do {
            let sequence = try w.backend.start(ticket.job)
            condition.withLock { running.append(Running(ticket: ticket, sequence: sequence, backend: w.backend, kvBytes: w.kvBytes)) }
        } catch {
            ticket.finish(.failure(error))
            releaseSiblings()
        }
        publishCounts()
    }

    /// One batched step over every running sequence.
    private func step() {
        let active = condition.withLock { running }
        // Cancelled or past their deadline: out before the step.
        for r in active where !r.sequence.isFinished && !r.ticket.shouldContinue() {
            r.sequence.stop(.cancelled)
        }
        let live = active.filter { !$0.sequence.isFinished }
        if !live.isEmpty {
            // Generating sequences first (all of them feed a token), then the readers in turn.
            let generating = live.filter { !$0.sequence.isReadingPrompt }
            let reading = readersInTurn(live.filter { $0.sequence.isReadingPrompt })
            let headLeftBefore = reading.first?.sequence.promptTokensLeft ?? 0
            let started = MonotonicClock.now()
            var summary = StepSummary()
            // One backend in practice (the loaded model); grouped to stay correct if it changes.
            var groups: [ObjectIdentifier: [Running]] = [:]
            var order: [ObjectIdentifier] = []
            for r in generating + reading {
                let id = ObjectIdentifier(r.backend)
                if groups[id] == nil { order.append(id) }
                groups[id, default: []].append(r)
            }
            for id in order {
                let group = groups[id]!
                let s = group[0].backend.step(group.map(\.sequence), promptBudget: promptBudget)
                summary.sequences += s.sequences
                summary.promptTokens += s.promptTokens
                summary.generatedTokens += s.generatedTokens
            }
            let now = MonotonicClock.now()
            var gaps: [Double] = []
            for r in generating {
                if let last = r.lastTokenAt { gaps.append(now - last) }
                r.lastTokenAt = now
            }
            for r in reading where !r.sequence.isReadingPrompt { r.lastTokenAt = now }  // its first token
            if let head = reading.first {
                head.readAsHead += headLeftBefore - head.sequence.promptTokensLeft
                if head.sequence.isReadingPrompt && head.readAsHead >= prefillQuantum {
                    head.readAsHead = 0
                    readingTurn.removeFirst()
                    readingTurn.append(head)
                }
            }
            condition.withLock { steps += 1 }
            metrics?.recordStep(summary, seconds: now - started, interTokenGaps: gaps)
        }
        // Leads whose prompt is read leave its key/values to their siblings, which start next.
        let ready = condition.withLock { () -> [(lead: Running, siblings: [Waiting])] in
            guard !heldSiblings.isEmpty else { return [] }
            return active.compactMap { r in
                guard !r.sequence.isReadingPrompt || r.sequence.isFinished,
                      let siblings = heldSiblings.removeValue(forKey: ObjectIdentifier(r.ticket)) else { return nil }
                return (r, siblings)
            }
        }
        for (lead, siblings) in ready {
            if !lead.sequence.isFinished { lead.backend.share(lead.sequence, copies: siblings.count) }
            release(siblings: siblings)
        }
        // Hand over text; finished sequences leave their slots.
        var finished: [Running] = []
        for r in active {
            let text = r.sequence.takeText()
            let logprobs = r.sequence.takeLogprobs()
            if (!text.isEmpty || !logprobs.isEmpty) && !r.ticket.emit(text, logprobs: logprobs) { r.sequence.stop(.cancelled) }
            if r.sequence.isFinished { finished.append(r) }
        }
        guard !finished.isEmpty else { return }
        condition.withLock {
            running.removeAll { r in finished.contains { $0 === r } }
            for r in finished {
                if let startedAt = r.ticket.startedAt {
                    averageSeconds = averageSeconds * 0.8 + (MonotonicClock.now() - startedAt) * 0.2
                }
            }
        }
        for r in finished {
            r.ticket.finish(r.sequence.outcome)
            r.backend.release(r.sequence)
        }
        publishCounts()
    }

    /// `reading` in turn order: the turn keeps its order, newcomers join at the back, those done
    /// reading leave it.
    private func readersInTurn(_ reading: [Running]) -> [Running] {
        readingTurn.removeAll { r in !reading.contains { $0 === r } }
        for r in reading where !readingTurn.contains(where: { $0 === r }) { readingTurn.append(r) }
        return readingTurn
    }

    private func publishCounts() {
        let (queued, busy, slots) = condition.withLock { (waiting.count, running.count, slotCount) }
        metrics?.setQueue(depth: queued, generating: busy, slots: slots)
    }
}

/// Why the scheduler did not run a generation.
public enum GenerationSkipped: Error, Equatable {
    case cancelled
    case deadlinePassedInQueue
}
