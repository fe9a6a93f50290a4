import Memory3TestSupport
import Foundation
import GGUF
import Memory3Engine
@testable import Memory3Model
@testable import Memory3Server
import Synchronization
import Tokenizer
import XCTest

/// Servers for the tests: on 127.0.0.1, an ephemeral port, quiet logs, small timeouts.
enum TestServers {
    static func configuration(_ adjust: (inout ServerConfiguration) -> Void = { _ in }) -> ServerConfiguration {
        var c = ServerConfiguration()
        c.host = "127.0.0.1"
        c.port = 0
        c.databasePath = nil
        c.shutdownGraceSeconds = 2
        adjust(&c)
        return c
    }

    /// A started server; stopped at the end of the test.
    static func start(_ test: XCTestCase, engine: LanguageModelEngine?, lines: LogLines? = nil,
                      _ adjust: (inout ServerConfiguration) -> Void = { _ in }) throws -> Memory3Server {
        let c = configuration(adjust)
        let log = RequestLog(enabled: true) { line in lines?.append(line) }
        let server = Memory3Server(configuration: c, engine: engine, log: log)
        try server.start()
        test.addTeardownBlock { server.shutdown(grace: 1) }
        return server
    }

    /// The tiny random Llama with a byte-level tokenizer and a ChatML template.
    static let tinyModel: (LlamaModel, Tokenizer) = {
        var factory = TinyLlamaFactory()
        factory.withTokenizer = true
        let file = try! factory.makeFile()
        return (try! LlamaModel(file: file, threads: 1), try! Tokenizer(gguf: file))
    }()

    static func tinyEngine() -> LanguageModelEngine {
        LanguageModelEngine(model: tinyModel.0, tokenizer: tinyModel.1, modelID: "tiny-llama")
    }

    /// An engine whose generation is a script: each step takes `interval` seconds and gives every
    /// running sequence one word, up to max_tokens; it honours cancellation and counts what it saw.
    static func scriptedEngine(interval: Double = 0.02, probe: GenerationProbe = GenerationProbe()) -> LanguageModelEngine {
        LanguageModelEngine(modelID: "scripted", tokenizer: tinyModel.1, chatTemplate: .chatML(defaultSystemPrompt: nil),
                            contextLength: 256, backend: ScriptedBackend(interval: interval, probe: probe))
    }
}

/// A backend whose steps are a script (see `TestServers.scriptedEngine`).
final class ScriptedBackend: GenerationBackend, @unchecked Sendable {
    let interval: Double
    let probe: GenerationProbe

    init(interval: Double, probe: GenerationProbe) {
        self.interval = interval
        self.probe = probe
    }

    final class Sequence: ServingSequence {
        let job: CompletionJob
        let probe: GenerationProbe
        var produced = 0
        var text = ""
        var pending = ""
        var reason: FinishReason?

        init(job: CompletionJob, probe: GenerationProbe) {
            self.job = job
            self.probe = probe
        }

        var isFinished: Bool { reason != nil }
        var isReadingPrompt: Bool { false }
        var promptTokensLeft: Int { 0 }
        func takeText() -> String {
            defer { pending = "" }
            return pending
        }

        func stop(_ reason: FinishReason) {
            guard self.reason == nil else { return }
            if reason == .cancelled { probe.cancelled.add(1, ordering: .relaxed) }
            finish(reason)
        }

        func finish(_ reason: FinishReason) {
            self.reason = reason
            probe.finished.add(1, ordering: .relaxed)
        }

        func advance() {
            guard reason == nil else { return }
            guard produced < job.options.maxTokens else { return finish(.length) }
            let word = "w\(produced) "
            produced += 1
            text += word
            pending += word
            if produced == job.options.maxTokens { finish(.length) }
        }

        var outcome: Result<CompletionOutcome, any Error> {
            .success(CompletionOutcome(text: text, promptTokens: job.prompt.count, completionTokens: produced,
                                       finishReason: reason ?? .length))
        }
    }

    func start(_ job: CompletionJob) throws -> any ServingSequence {
        probe.started.add(1, ordering: .relaxed)
        probe.lastJob.withLock { $0 = job }
        return Sequence(job: job, probe: probe)
    }

    func step(_ sequences: [any ServingSequence], promptBudget: Int) -> StepSummary {
        if interval > 0 { usleep(UInt32(interval * 1e6)) }
        for s in sequences { (s as! Sequence).advance() }
        return StepSummary(sequences: sequences.count, generatedTokens: sequences.count)
    }

    func release(_ sequence: any ServingSequence) {}
}

/// What a scripted engine saw.
final class GenerationProbe: Sendable {
    let started = Atomic<Int>(0)
    let cancelled = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    let lastJob = Mutex<CompletionJob?>(nil)
}

/// Log lines collected from a server.
final class LogLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// Waits until `condition` holds or `timeout` passes.
func eventually(timeout: Double = 5, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// The counts of a usage object (`prompt_tokens_details` aside).
func usageCounts(_ value: Any?) -> [String: Int]? {
    (value as? [String: Any])?.compactMapValues { $0 as? Int }
}
