import Memory3TestSupport
import Foundation
import Memory3Engine
import Synchronization
@testable import Memory3Model
@testable import Memory3Server
import Tokenizer
import XCTest

/// The slot scheduler: continuous batching, cancellation in every phase counted in steps, the
/// prompt cache through the API.
final class SlotSchedulingTests: XCTestCase {
    /// The tiny model with a long context, its steps slowed so that a test can act mid-prompt.
    static let longModel: (LlamaModel, Tokenizer) = {
        var factory = TinyLlamaFactory()
        factory.withTokenizer = true
        factory.contextLength = 4096
        let file = try! factory.makeFile()
        return (try! LlamaModel(file: file, threads: 1), try! Tokenizer(gguf: file))
    }()

    /// The model backend with `delay` seconds added to each step.
    final class SlowBackend: GenerationBackend, @unchecked Sendable {
        let inner: ModelBackend
        let delay: Double
        init(_ inner: ModelBackend, delay: Double) {
            self.inner = inner
            self.delay = delay
        }
        func start(_ job: CompletionJob) throws -> any ServingSequence { try inner.start(job) }
        func step(_ sequences: [any ServingSequence], promptBudget: Int) -> StepSummary {
            usleep(UInt32(delay * 1e6))
            return inner.step(sequences, promptBudget: promptBudget)
        }
        func release(_ sequence: any ServingSequence) { inner.release(sequence) }
    }

    func slowEngine(delay: Double = 0.01) -> LanguageModelEngine {
        let (model, tokenizer) = Self.longModel
        let plain = LanguageModelEngine(model: model, tokenizer: tokenizer, modelID: "tiny-llama")
        return LanguageModelEngine(modelID: "tiny-llama", tokenizer: tokenizer, chatTemplate: plain.chatTemplate,
                                   contextLength: plain.contextLength, kvBytesPerToken: plain.kvBytesPerToken,
                                   backend: SlowBackend(plain.backend as! ModelBackend, delay: delay))
    }

    func longPrompt(_ tokenizer: Tokenizer, tokens: Int) -> [Int] {
        Array(tokenizer.encode(String(repeating: "the tiny model reads a long prompt ", count: tokens / 10)).prefix(tokens))
    }

    /// Waits for a ticket's end; the updates' text is dropped.
    func end(of ticket: GenerationTicket, timeout: Double = 10) -> Result<CompletionOutcome, any Error>? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let end = ticket.next(timeout: 0.05).end { return end }
        }
        return nil
    }

    func testCancellingASequenceReadingItsPromptFreesItsSlotWithinOneStep() throws {
        let engine = slowEngine()
        let server = try TestServers.start(self, engine: engine) {
            $0.slots = 1
            $0.prefillChunkTokens = 64
        }
        let scheduler = server.scheduler
        let prompt = longPrompt(engine.tokenizer, tokens: 3000)
        XCTAssertEqual(prompt.count, 3000)
        let job = CompletionJob(prompt: prompt, options: GenerationOptions(maxTokens: 8, sampling: .greedy))
        let ticket = try scheduler.submit(job, deadline: MonotonicClock.now() + 60, backend: engine.backend)
        XCTAssertTrue(eventually { scheduler.stepCount >= 5 }, "the prompt is being read")
        scheduler.cancel(ticket)
        let stepsAtCancel = scheduler.stepCount
        let result = try XCTUnwrap(end(of: ticket), "the cancelled sequence never ended")
        XCTAssertLessThanOrEqual(scheduler.stepCount - stepsAtCancel, 1, "it read on after the cancel")
        guard case .success(let outcome) = result else { return XCTFail("\(result)") }
        XCTAssertEqual(outcome.finishReason, .cancelled)
        XCTAssertEqual(outcome.completionTokens, 0)
        XCTAssertTrue(eventually { scheduler.runningCount == 0 })

        // The slot serves the next request.
        let next = try scheduler.submit(CompletionJob(prompt: Array(prompt.prefix(10)), options: GenerationOptions(maxTokens: 3, sampling: .greedy)),
                                        deadline: MonotonicClock.now() + 60, backend: engine.backend)
        guard case .success(let done)? = end(of: next) else { return XCTFail("the next request did not run") }
        XCTAssertEqual(done.completionTokens, 3)
    }

    func testShortPromptsAreReadInArrivalOrderAndALongOneYieldsAfterItsQuantum() throws {
        let engine = slowEngine(delay: 0.005)
        let server = try TestServers.start(self, engine: engine) {
            $0.slots = 3
            $0.prefillChunkTokens = 64
        }
        let scheduler = server.scheduler
        let tokens = longPrompt(engine.tokenizer, tokens: 2000)
        func submit(_ prompt: [Int]) throws -> GenerationTicket {
            try scheduler.submit(CompletionJob(prompt: prompt, options: GenerationOptions(maxTokens: 2, sampling: .greedy)),
                                 deadline: MonotonicClock.now() + 60, backend: engine.backend)
        }
        let long = try submit(tokens)
        let first = try submit(Array(tokens[5 ..< 105]))
        let second = try submit(Array(tokens[7 ..< 107]))
        for ticket in [long, first, second] { XCTAssertNotNil(end(of: ticket)) }
        let times = try [long, first, second].map { try XCTUnwrap($0.firstTextAt) }
        XCTAssertLessThan(times[1], times[2], "short prompts in arrival order")
        XCTAssertLessThan(times[2], times[0], "the long prompt yielded after its quantum (\(scheduler.prefillQuantum) tokens)")
    }

    func testAClientLeavingDuringItsPromptLeavesTheServerServing() throws {
        let server = try TestServers.start(self, engine: slowEngine()) {
            $0.slots = 1
            $0.prefillChunkTokens = 64
        }
        let prompt = String(repeating: "the tiny model reads a long prompt ", count: 90)
        let leaving = try TestHTTPClient(port: server.port)
        leaving.send(TestHTTPClient.format("POST", "/v1/completions", body: #"{"prompt": "\#(prompt)", "max_tokens": 8}"#))
        XCTAssertTrue(eventually { server.scheduler.stepCount >= 5 })
        leaving.close()
        let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: #"{"prompt": "the", "max_tokens": 2}"#)
        XCTAssertEqual(r.status, 200, r.text)
        XCTAssertTrue(eventually { server.metrics.render(.init()).contains(#"memory3_generations_total{finish_reason="cancelled"} 1"#) })
    }

    func testConcurrentRequestsAreBatchedAndAnswerAsTheyWouldAlone() throws {
        let server = try TestServers.start(self, engine: slowEngine(delay: 0.002)) { $0.slots = 4 }
        let bodies = (0 ..< 4).map { i in #"{"prompt": "request \#(i) asks the tiny model", "max_tokens": 24, "temperature": 0}"# }
        var alone: [String] = []
        for body in bodies {
            let r = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: body)
            alone.append(((try r.json()["choices"] as? [[String: Any]])?.first?["text"] as? String) ?? "?")
        }
        let together = Mutex([String](repeating: "", count: 4))
        let group = DispatchGroup()
        let port = server.port
        for (i, body) in bodies.enumerated() {
            DispatchQueue.global().async(group: group) {
                let r = try? TestHTTPClient.request(port: port, "POST", "/v1/completions", body: body)
                let text = (try? r?.json()["choices"] as? [[String: Any]])??.first?["text"] as? String
                together.withLock { $0[i] = text ?? "failed" }
            }
        }
        XCTAssertEqual(group.wait(timeout: .now() + 30), .success)
        XCTAssertEqual(together.withLock { $0 }, alone)
        let metrics = server.metrics.render(.init())
        // Some step advanced more than one sequence: fewer steps with at most one than steps in all.
        let one = try XCTUnwrap(Self.sample(metrics, #"memory3_batch_size_bucket{le="1"}"#))
        let all = try XCTUnwrap(Self.sample(metrics, "memory3_batch_size_count"))
        XCTAssertLessThan(one, all, metrics)
        XCTAssertTrue(metrics.contains("memory3_slots 4"))
        XCTAssertNotNil(Self.sample(metrics, "memory3_inter_token_latency_seconds_count").flatMap { $0 > 0 ? $0 : nil })
    }

    func testARepeatedPromptReportsItsCachedTokens() throws {
        let server = try TestServers.start(self, engine: slowEngine(delay: 0))
        let body = #"{"prompt": "the tiny model answers the same prompt twice", "max_tokens": 6, "temperature": 0}"#
        let first = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: body).json()
        let second = try TestHTTPClient.request(port: server.port, "POST", "/v1/completions", body: body).json()
        func cached(_ json: [String: Any]) -> Int? {
            ((json["usage"] as? [String: Any])?["prompt_tokens_details"] as? [String: Any])?["cached_tokens"] as? Int
        }
        let promptTokens = try XCTUnwrap(usageCounts(second["usage"])?["prompt_tokens"])
        XCTAssertEqual(cached(first), 0)
        XCTAssertEqual(cached(second), promptTokens - 1)
        XCTAssertEqual((first["choices"] as? [[String: Any]])?.first?["text"] as? String,
                       (second["choices"] as? [[String: Any]])?.first?["text"] as? String)
        XCTAssertTrue(server.metrics.render(.init()).contains("memory3_prompt_cache_hits_total 1"))
    }

    static func sample(_ metrics: String, _ name: String) -> Double? {
        for line in metrics.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1))
        }
        return nil
    }
}
