import Foundation
import GGUF
import Tokenizer
import XCTest

/// Paths of the real model and llama.cpp's reference outputs, found from this file's location
/// (the repository root is three levels up from Tests/TokenizerTests/ReferenceFiles.swift).
enum ReferenceFiles {
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let modelPath = repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    static let fixturePath = repositoryRoot.appendingPathComponent("Tests/Fixtures/llama-reference.json").path

    /// The real model's tokenizer, loaded once; skips the test when the model is not downloaded.
    static func smolLMTokenizer() throws -> Tokenizer {
        try loaded.get().tokenizer
    }

    static func smolLMChatTemplate() throws -> String? {
        try loaded.get().chatTemplate
    }

    private static let loaded: Result<(tokenizer: Tokenizer, chatTemplate: String?), Error> = Result {
        guard FileManager.default.fileExists(atPath: modelPath) else {
            throw XCTSkip("the model is missing at \(modelPath): run `make model`")
        }
        let file = try GGUFFile(path: modelPath)
        return (try Tokenizer(gguf: file), file.metadata["tokenizer.chat_template"]?.stringValue)
    }

    /// llama.cpp's tokenizations (Tests/Fixtures/llama-reference.json, made by
    /// scripts/make-reference.py). The file is committed, so its absence is a failure.
    static func llamaTokenizations() throws -> [LlamaTokenization] {
        guard FileManager.default.fileExists(atPath: fixturePath) else {
            XCTFail("missing \(fixturePath): regenerate it with scripts/make-reference.py")
            return []
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath))
        return try JSONDecoder().decode(LlamaReference.self, from: data).tokenize
    }
}

/// One "tokenize" entry of the reference fixture.
struct LlamaTokenization: Decodable {
    let text: String
    let special: Bool
    let ids: [Int]
    /// llama.cpp's detokenization with control tokens rendered as nothing.
    let detokenized: String
}

private struct LlamaReference: Decodable {
    let tokenize: [LlamaTokenization]
}
