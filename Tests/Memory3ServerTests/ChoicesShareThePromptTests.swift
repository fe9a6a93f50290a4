import Foundation
import Memory3Engine
import Memory3Model
@testable import Memory3Server
import XCTest

/// `n` choices: the first reads the prompt, the others start from a copy of its key/values
/// (reading only the last prompt token again) and give what they would give alone.
final class ChoicesShareThePromptTests: XCTestCase {
    /// Waits for each choice's outcome (a hang is the test runner's timeout to report).
    func outcomes(_ tickets: [GenerationTicket]) throws -> [CompletionOutcome] {
        try tickets.map { ticket in
            while true {
                if let end = ticket.next(timeout: 0.05).end { return try end.get() }
            }
        }
    }

    func testOtherChoicesReuseTheFirstOnesPrompt() throws {
        let engine = TestServers.tinyEngine()
        let scheduler = GenerationScheduler(slots: 4, queueCapacity: 8)
        defer { scheduler.stop() }
        let prompt = (0 ..< 90).map { 3 + ($0 * 7) % 40 }
        var options = GenerationOptions(maxTokens: 6, sampling: .greedy)
        options.stopAtEndOfGeneration = false
        let job = CompletionJob(prompt: prompt, options: options, memoryMode: .off, memoryK: 1)
        let tickets = try scheduler.submit(choices: [job, job, job], deadline: Date().timeIntervalSinceReferenceDate + 60,
                                           backend: engine.backend)
        XCTAssertEqual(tickets.count, 3)
        let results = try outcomes(tickets)
        XCTAssertEqual(results[0].cachedPromptTokens, 0, "the first choice reads the prompt")
        XCTAssertEqual(results[1].cachedPromptTokens, prompt.count - 1, "the others start from its key/values")
        XCTAssertEqual(results[2].cachedPromptTokens, prompt.count - 1)
        XCTAssertEqual(results[1].text, results[0].text, "greedy: the same answer as reading the prompt")
        XCTAssertEqual(results[2].text, results[0].text)

        // Cancelling the held choices ends them; the first still answers.
        let more = try scheduler.submit(choices: [job, job], deadline: Date().timeIntervalSinceReferenceDate + 60, backend: engine.backend)
        scheduler.cancel(more[1])
        XCTAssertEqual(try outcomes([more[0]])[0].text, results[0].text)
        XCTAssertThrowsError(try outcomes([more[1]]))
    }
}
