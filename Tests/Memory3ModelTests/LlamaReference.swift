import Foundation
import XCTest

/// The llama.cpp reference data made by scripts/make-reference.py (Tests/Fixtures/llama-reference.json).
struct LlamaReference: Decodable {
    struct Greedy: Decodable {
        let prompt: String
        let special: Bool
        let prompt_ids: [Int]
        let ids: [Int]
        let text: String
        let top2_gaps: [Double]
        let top5: [[[Double]]]
    }

    struct TeacherForcing: Decodable {
        let text: String
        let ids: [Int]
        let top5: [[[Double]]]
        let next_logprob: [Double]
        let perplexity: Double
    }

    let model_sha256: String
    let greedy: [Greedy]
    let teacher_forcing: TeacherForcing

    static func load() throws -> LlamaReference {
        let url = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/llama-reference.json")
        return try JSONDecoder().decode(LlamaReference.self, from: Data(contentsOf: url))
    }
}

enum TestPaths {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    static let smolLM2 = repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    /// The real model's path; the test is skipped (with the command that fixes it) when it is missing.
    static func requireSmolLM2() throws -> String {
        guard FileManager.default.fileExists(atPath: smolLM2) else {
            throw XCTSkip("models/SmolLM2-135M-Instruct.Q4_1.gguf is missing: run `make model` (or `make test`)")
        }
        return smolLM2
    }
}
