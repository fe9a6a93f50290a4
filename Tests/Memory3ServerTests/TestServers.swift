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

    /// An engine whose generation is a script: one word every `interval` seconds up to
    /// max_tokens, honouring cancellation. It counts what it saw.
    static func scriptedEngine(interval: Double = 0.02, probe: GenerationProbe = GenerationProbe()) -> LanguageModelEngine {
        LanguageModelEngine(
            modelID: "scripted", tokenizer: tinyModel.1, chatTemplate: .chatML(defaultSystemPrompt: nil),
            contextLength: 256
        ) { job, onText in
            probe.started.add(1, ordering: .relaxed)
            probe.lastJob.withLock { $0 = job }
            var text = ""
            var produced = 0
            var reason = FinishReason.length
            while produced < job.options.maxTokens {
                usleep(UInt32(interval * 1e6))
                let word = "w\(produced) "
                produced += 1
                text += word
                if !onText(word) {
                    reason = .cancelled
                    probe.cancelled.add(1, ordering: .relaxed)
                    break
                }
            }
            probe.finished.add(1, ordering: .relaxed)
            return CompletionOutcome(text: text, promptTokens: job.prompt.count, completionTokens: produced,
                                     finishReason: reason, decodeSeconds: Double(produced) * interval)
        }
    }
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
