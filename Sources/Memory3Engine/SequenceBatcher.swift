import Foundation
import Memory3Memory
import Memory3Model
import Tokenizer

/// Turns requests into sequences and advances any number of them together, one batched forward
/// pass per step: the next token of every generating sequence plus pieces of the prompts being
/// read, with attention per sequence over its own cache and its own memories. A sequence's tokens
/// do not depend on what it is batched with (tests prove it).
public final class SequenceBatcher: @unchecked Sendable {
    public let model: any DecoderModel
    public let tokenizer: Tokenizer
    /// The knowledge base; nil runs every request without memory.
    public let source: MemorySource?
    public let policy: MemoryReadingPolicy
    /// Finished sequences' key/values for prompt reuse; nil: none kept.
    public let promptCache: PromptCache?

    public init(model: any DecoderModel, tokenizer: Tokenizer, source: MemorySource?,
                policy: MemoryReadingPolicy = MemoryReadingPolicy(), promptCache: PromptCache? = nil) {
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.policy = policy
        self.promptCache = promptCache
    }

    /// What one step did.
    public struct StepReport: Sendable {
        /// Sequences that fed tokens.
        public var sequences = 0
        public var promptTokens = 0
        /// Generated tokens fed (each sampled by the step before).
        public var generatedTokens = 0
        /// Swaps whose rerank probe ran (batched in one pass).
        public var probes = 0
    }

    // MARK: Sequences

    /// A sequence for `request`, ready to be stepped; its prompt starts from a cached prefix when
    /// the prompt cache holds one that still fits (same tokens, and in explicit mode the same
    /// memories retrieved for each reused chunk).
    public func makeSequence(_ request: GenerationRequest) throws -> GenerationSequence {
        let plan = try prepare(request)
        var cache: KVCache?
        var cached = 0
        if let promptCache, plan.prompt.count > 1, !request.options.promptLogprobs,
           let (entry, tokens) = promptCache.take(plan.kind, reusable: { self.reusableTokens(of: $0, plan: plan) }) {
            cached = tokens
            if entry.cache.capacity >= plan.capacity {
                entry.cache.truncate(to: tokens)
                cache = entry.cache
            } else {
                let larger = model.makeCache(capacity: plan.capacity, positionOffset: plan.reader.contextOffset)
                larger.copyPrefix(of: entry.cache, tokens: tokens)
                cache = larger
            }
            if let memory = plan.reader as? MemoryReader {
                let chunks = (tokens + policy.memoryInterval - 1) / policy.memoryInterval
                try memory.resume(readings: Array(entry.readings.prefix(chunks)), tokens: Array(plan.prompt.prefix(tokens)),
                                  retrievable: plan.retrievable)
            }
        }
        return GenerationSequence(request: request, prompt: plan.prompt, retrievable: plan.retrievable,
                                  cache: cache ?? model.makeCache(capacity: plan.capacity, positionOffset: plan.reader.contextOffset),
                                  reader: plan.reader, cachedPromptTokens: cached, tokenizer: tokenizer)
    }

    /// Hands a finished sequence's key/values to the prompt cache.
    public func release(_ sequence: GenerationSequence) {
        guard let promptCache, sequence.failure == nil else { return }
        let cache = sequence.cache
        let generatedFed = cache.count - sequence.promptRead
        guard generatedFed >= 0, generatedFed <= sequence.result.tokens.count else { return }
        let tokens = Array(sequence.prompt.prefix(sequence.promptRead)) + sequence.result.tokens.prefix(generatedFed)
        let memory = sequence.reader as? MemoryReader
        promptCache.put(memory == nil ? .plain : .explicit(k: sequence.request.memoryK, retriever: sequence.request.memoryRetriever), cache: cache, tokens: tokens,
                        readings: memory?.readings ?? [])
    }

    /// Leaves `copies` copies of `sequence`'s prompt key/values (and the memories its chunks
    /// read) in the prompt cache, for sequences of the same prompt that start next (a request's
    /// other choices): each takes one and reads only the prompt's last token again.
    public func share(_ sequence: GenerationSequence, copies: Int) {
        guard let promptCache, copies > 0, sequence.failure == nil, sequence.promptRead == sequence.prompt.count,
              sequence.cache.count >= sequence.promptRead else { return }
        let tokens = Array(sequence.prompt)
        let memory = sequence.reader as? MemoryReader
        for _ in 0 ..< copies {
            let copy = model.makeCache(capacity: tokens.count, positionOffset: sequence.cache.positionOffset)
            copy.copyPrefix(of: sequence.cache, tokens: tokens.count)
            promptCache.put(memory == nil ? .plain : .explicit(k: sequence.request.memoryK, retriever: sequence.request.memoryRetriever), cache: copy, tokens: tokens,
                            readings: memory?.readings ?? [])
        }
    }

    /// Runs one sequence alone to its end, handing its text to `onText` as it comes (returning
    /// false stops it). Throws what failed it.
    public func run(_ sequence: GenerationSequence, onText: (String) -> Bool = { _ in true }) throws -> GenerationResult {
        while !sequence.isFinished {
            step([sequence], promptBudget: model.maxStepTokens)
            let text = sequence.takeText()
            if !text.isEmpty && !onText(text) { sequence.stop(.cancelled) }
        }
        if let failure = sequence.failure { throw failure }
        return sequence.result
    }

    // MARK: The step

    /// One batched step over `sequences`: every generating one feeds its next token, and reading
    /// ones feed prompt pieces while `promptBudget` tokens last (in the order given: the caller
    /// rotates it for fairness). Swaps due in this step retrieve first; their rerank probes run
    /// together in one pass. A sequence that fails is finished with its error; the others go on.
    @discardableResult
    public func step(_ sequences: [GenerationSequence], promptBudget: Int) -> StepReport {
        var report = StepReport()
        let now = { Date().timeIntervalSinceReferenceDate }
        var plans: [(sequence: GenerationSequence, tokens: [Int], piece: Range<Int>?)] = []
        var budget = promptBudget
        for sequence in sequences {
            guard let input = sequence.nextInput(promptBudget: budget, maxTokens: model.maxStepTokens) else { continue }
            if let piece = input.promptPiece { budget -= piece.count }
            sequence.markStarted(now: now())
            plans.append((sequence, input.tokens, input.promptPiece))
        }

        // Memory swaps due before these tokens: retrieve and load, then the rerank probes.
        var swaps: [(sequence: GenerationSequence, swap: PendingSwap)] = []
        for plan in plans {
            let s = plan.sequence
            do {
                let swap = try plan.piece.map { try s.reader.swapBefore(prompt: $0, of: s.prompt, retrievable: s.retrievable) }
                    ?? s.reader.swapBefore(generated: plan.tokens[0])
                if let swap { swaps.append((s, swap)) }
            } catch {
                s.fail(error)
            }
        }
        let probing = swaps.filter { $0.swap.probe != nil && !$0.sequence.isFinished }
        if !probing.isEmpty {
            for (_, swap) in probing {
                swap.probe!.begin(tokens: swap.probeTokens.count, segments: swap.probeSegments.count, config: model.config)
            }
            let requests = probing.map { s, swap in
                ForwardRequest(cache: s.cache, tokens: swap.probeTokens, memory: swap.probeSegments, logits: .none, probe: swap.probe)
            }
            do {
                _ = try model.forward(batch: requests, throughLayer: probing.map(\.swap.probeLayer).max()!)
                report.probes = probing.count
            } catch {
                for (s, _) in probing { s.fail(error) }
            }
        }
        for (s, swap) in swaps where !s.isFinished { s.reader.complete(swap) }

        // The forward: one batch of every live sequence's tokens.
        var live: [(sequence: GenerationSequence, tokens: [Int], piece: Range<Int>?)] = []
        var requests: [ForwardRequest] = []
        for plan in plans where !plan.sequence.isFinished {
            let s = plan.sequence
            let wantsLogits = plan.piece.map { $0.upperBound == s.prompt.count } ?? true
            let everyRow = plan.piece != nil && s.request.options.promptLogprobs
            let request = ForwardRequest(cache: s.cache, tokens: plan.tokens, memory: s.reader.segments,
                                         logits: everyRow ? .all : wantsLogits ? .last : .none)
            do {
                try model.validate(batch: [request])
            } catch {
                s.fail(error)
                continue
            }
            live.append(plan)
            requests.append(request)
        }
        guard !requests.isEmpty else { return report }
        let logits: [[Float]]
        do {
            logits = try model.forward(batch: requests)
        } catch {
            for plan in live { plan.sequence.fail(error) }
            return report
        }
        let finished = now()
        for (plan, rows) in zip(live, logits) {
            plan.sequence.didFeed(plan.tokens, promptPiece: plan.piece, logits: rows, now: finished)
            if plan.piece == nil { report.generatedTokens += 1 } else { report.promptTokens += plan.tokens.count }
        }
        report.sequences = live.count
        return report
    }

    // MARK: Planning a request

    struct Plan {
        let prompt: [Int]
        let retrievable: [Bool]?
        let reader: ContextReader
        let capacity: Int
        let kind: PromptCache.ReadKind
    }

    /// How `request` is read: its prompt (retrieved text first in text mode), its reader, and the
    /// cache capacity it needs (prompt and max_tokens, within the context).
    func prepare(_ request: GenerationRequest) throws -> Plan {
        let prompt = request.prompt
        guard !prompt.isEmpty else { throw ModelError.emptyInput }
        let limit = model.config.contextLength
        let extra = max(request.options.maxTokens, 0)
        var policy = self.policy
        policy.memoriesPerChunk = request.memoryK
        if let retriever = request.memoryRetriever { policy.retriever = retriever }
        switch (request.memoryMode, source) {
        case (.off, _), (_, nil):
            let capacity = min(prompt.count + extra, limit)
            guard prompt.count < capacity || extra == 0 else {
                throw ModelError.contextFull(needed: prompt.count + 1, capacity: limit)
            }
            return Plan(prompt: prompt, retrievable: request.retrievable, reader: PlainReader(),
                        capacity: max(capacity, prompt.count), kind: .plain)
        case (.text, let source?):
            let started = Date()
            var kept: [Int] = []
            for (i, t) in prompt.enumerated() where (request.retrievable?[i] ?? true) && !tokenizer.isControl(t) { kept.append(t) }
            let query = tokenizer.decode(kept)
            let hits = query.isEmpty ? [] : try source.retrieve(query, limit: policy.memoriesPerChunk, retriever: policy.retriever)
            let texts = try hits.map { try source.text(for: $0.referenceId) }
            var context = texts.isEmpty ? [] : tokenizer.encode(texts.joined(separator: "\n\n") + "\n\n", parseSpecial: false, addBOS: false)
            var prompt = prompt
            var retrievable = request.retrievable
            if !context.isEmpty, let bos = tokenizer.bosTokenId, prompt.first == bos {
                // The retrieved text goes after the prompt's BOS, not before it.
                context.insert(bos, at: 0)
                prompt.removeFirst()
                retrievable = retrievable.map { Array($0.dropFirst()) }
            }
            let record = ChunkRecord(
                phase: .prompt, firstToken: 0, tokenCount: request.prompt.count, query: query,
                references: hits.enumerated().map { rank, hit in
                    ChunkRecord.UsedReference(referenceId: hit.referenceId, documentId: hit.documentId, score: hit.score,
                                              rank: rank, bias: 0, headMass: nil)
                })
            let full = context + prompt
            guard full.count + 1 <= limit else {
                throw ModelError.contextFull(needed: full.count + 1, capacity: limit)
            }
            let capacity = min(full.count + extra, limit)
            return Plan(prompt: full, retrievable: retrievable.map { [Bool](repeating: false, count: context.count) + $0 },
                        reader: PlainReader(records: [record], retrievalSeconds: Date().timeIntervalSince(started)),
                        capacity: max(capacity, full.count), kind: .plain)
        case (.explicit, let source?):
            // Context positions start at contextOffset: the cache holds prompt + generated tokens.
            let capacity = min(prompt.count + extra, limit - policy.contextOffset)
            guard prompt.count < capacity || extra == 0 else {
                throw ModelError.contextFull(needed: policy.contextOffset + prompt.count + 1, capacity: limit)
            }
            return Plan(prompt: prompt, retrievable: request.retrievable,
                        reader: MemoryReader(tokenizer: tokenizer, source: source, policy: policy),
                        capacity: max(capacity, prompt.count), kind: .explicit(k: request.memoryK, retriever: request.memoryRetriever))
        }
    }

    /// Prompt tokens a cached entry can serve: its common prefix with the prompt (never the
    /// whole prompt: the last token is read again for its logits); with explicit memory, whole
    /// chunks only, each still retrieving the memories it read then.
    func reusableTokens(of entry: PromptCache.Entry, plan: Plan) -> Int {
        let common = min(entry.commonPrefix(with: plan.prompt), plan.prompt.count - 1)
        guard let memory = plan.reader as? MemoryReader else { return common }
        let interval = policy.memoryInterval
        var reusable = 0
        for (c, reading) in entry.readings.enumerated() {
            // The entry may hold more chunks than this prompt has (a longer earlier prompt).
            guard c * interval < plan.prompt.count else { break }
            let chunk = c * interval ..< min((c + 1) * interval, plan.prompt.count)
            guard reading.record.phase == .prompt, reading.record.firstToken == chunk.lowerBound,
                  reading.record.tokenCount == chunk.count, chunk.upperBound <= entry.tokens.count,
                  entry.commonPrefix(with: plan.prompt) >= chunk.upperBound else { break }
            let query = memory.queryText(Array(plan.prompt[chunk]), mask: plan.retrievable.map { Array($0[chunk]) })
            guard query == reading.record.query, (try? memory.hits(for: query)) == reading.hits else { break }
            reusable = chunk.upperBound
        }
        return min(reusable, plan.prompt.count - 1)
    }

    // MARK: Teacher forcing

    /// Logits after the prompt and after each token of `continuation` but the last, read as
    /// `request` asks (the eval uses it to measure how much a mode helps the right answer), and
    /// what each chunk read.
    public func forcedLogits(_ request: GenerationRequest, continuation: [Int]) throws -> (logits: [Float], chunks: [ChunkRecord]) {
        var request = request
        request.options.maxTokens = continuation.count
        let plan = try prepare(request)
        let reader = plan.reader
        let cache = model.makeCache(capacity: plan.capacity, positionOffset: reader.contextOffset)
        var rows: [Float] = []
        var index = 0
        while index < plan.prompt.count {
            let count = reader.promptPiece(from: index, promptCount: plan.prompt.count, limit: model.maxStepTokens)
            let piece = index ..< index + count
            let swap = try reader.swapBefore(prompt: piece, of: plan.prompt, retrievable: plan.retrievable)
            try completeAlone(swap, cache: cache, reader: reader)
            let last = piece.upperBound == plan.prompt.count
            let out = try model.forward(Array(plan.prompt[piece]), cache: cache, memory: reader.segments, logits: last ? .last : .none)
            if last { rows = out }
            reader.didFeed(Array(plan.prompt[piece]), retrievable: plan.retrievable.map { Array($0[piece]) }, generated: false)
            index = piece.upperBound
        }
        for token in continuation.dropLast() {
            try completeAlone(try reader.swapBefore(generated: token), cache: cache, reader: reader)
            rows += try model.forward([token], cache: cache, memory: reader.segments, logits: .last)
            reader.didFeed([token], retrievable: nil, generated: true)
        }
        return (rows, reader.records)
    }

    private func completeAlone(_ swap: PendingSwap?, cache: KVCache, reader: ContextReader) throws {
        guard let swap else { return }
        if let probe = swap.probe {
            try model.probeAttention(swap.probeTokens, cache: cache, memory: swap.probeSegments, probe: probe,
                                     throughLayer: swap.probeLayer)
        }
        reader.complete(swap)
    }
}
