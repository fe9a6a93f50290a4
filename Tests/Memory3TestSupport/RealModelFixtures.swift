import Foundation
import XCTest

/// Where the repository's real model and fixtures are, for the tests that use them.
public enum TestPaths {
    public static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    public static let smolLM2 = repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    public static let gemma3 = repositoryRoot.appendingPathComponent("models/gemma-3-270m-q4_k_m.gguf").path

    /// The real model's path; the test is skipped (with the command that fixes it) when it is missing.
    public static func requireSmolLM2() throws -> String {
        guard FileManager.default.fileExists(atPath: smolLM2) else {
            throw XCTSkip("models/SmolLM2-135M-Instruct.Q4_1.gguf is missing: run `make model` (or `make test`)")
        }
        return smolLM2
    }

    /// Gemma 3 270M's path; the test is skipped (with the command that fixes it) when it is missing.
    public static func requireGemma3() throws -> String {
        guard FileManager.default.fileExists(atPath: gemma3) else {
            throw XCTSkip("models/gemma-3-270m-q4_k_m.gguf is missing: run `make model MODEL=gemma3-270m` (or `make test`)")
        }
        return gemma3
    }

    /// all-MiniLM-L6-v2's folder (model.safetensors, vocab.txt), the dense retriever's encoder.
    public static let miniLM = repositoryRoot.appendingPathComponent("models/all-MiniLM-L6-v2").path

    /// The sentence encoder's folder; the test is skipped (with the command that fixes it) when it is missing.
    public static func requireMiniLM() throws -> String {
        guard FileManager.default.fileExists(atPath: miniLM + "/model.safetensors") else {
            throw XCTSkip("models/all-MiniLM-L6-v2 is missing: run `scripts/fetch-model.sh minilm` (or `make test`)")
        }
        return miniLM
    }

    /// A fresh temporary folder, removed when the test ends.
    public static func temporaryFolder(_ test: XCTestCase) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }
}

/// The llama.cpp reference data made by scripts/make-reference.py (Tests/Fixtures/llama-reference.json).
public struct LlamaReference: Decodable {
    public struct Greedy: Decodable {
        public let prompt: String
        public let special: Bool
        public let prompt_ids: [Int]
        public let ids: [Int]
        public let text: String
        public let top2_gaps: [Double]
        public let top5: [[[Double]]]
    }

    public struct Tokenization: Decodable {
        public let text: String
        public let special: Bool
        public let ids: [Int]
        public let detokenized: String
    }

    public struct TeacherForcing: Decodable {
        public let text: String
        public let ids: [Int]
        public let top5: [[[Double]]]
        public let next_logprob: [Double]
        public let perplexity: Double
    }

    public let model_sha256: String
    public let greedy: [Greedy]
    public let teacher_forcing: TeacherForcing
    /// The same text evaluated one token per call (llama.cpp's single-token path), where made.
    public let teacher_forcing_sequential: TeacherForcing?
    public let tokenize: [Tokenization]

    /// `fixture`: a file in Tests/Fixtures made by scripts/make-reference.py.
    public static func load(_ fixture: String = "llama-reference.json") throws -> LlamaReference {
        let url = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/" + fixture)
        return try JSONDecoder().decode(LlamaReference.self, from: Data(contentsOf: url))
    }
}
