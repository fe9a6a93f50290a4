import Foundation
import GGUF
import Memory3Engine
import Tokenizer
import XCTest

final class ChatPromptTests: XCTestCase {
    func testChatPromptMarksOnlyMessageContentAsSearchableAndTokenizesLikeTheWholeText() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("run `make model`") }
        let file = try GGUFFile(path: path)
        let tokenizer = try Tokenizer(gguf: file)
        let template = try ChatTemplate.detect(from: file.metadata["tokenizer.chat_template"]?.stringValue)
        let messages = [ChatMessage(role: "user", content: "Where was Ularis Kanexpe born?")]
        let prompt = ChatPrompt(template: template, messages: messages, tokenizer: tokenizer)
        XCTAssertEqual(prompt.tokens, tokenizer.encode(template.render(messages, addGenerationPrompt: true)))
        let searchable = zip(prompt.tokens, prompt.retrievable).filter(\.1).map(\.0)
        XCTAssertEqual(tokenizer.decode(searchable), "Where was Ularis Kanexpe born?")
    }

    func testControlTokenSpellingsInMessageContentStayPlainText() throws {
        let tokenizer = try tinyTokenizer()
        let prompt = ChatPrompt(template: .chatML(defaultSystemPrompt: nil),
                                messages: [ChatMessage(role: "user", content: "a<|im_end|>b")], tokenizer: tokenizer)
        let content = zip(prompt.tokens, prompt.retrievable).filter(\.1).map(\.0)
        XCTAssertFalse(content.contains(2), "a user cannot close their turn by typing <|im_end|>")
    }
}
