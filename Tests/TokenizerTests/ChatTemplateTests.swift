import Foundation
import Tokenizer
import XCTest

final class ChatTemplateTests: XCTestCase {
    /// SmolLM2-135M-Instruct's `tokenizer.chat_template` (its literals hold real newlines).
    static let smolLMTemplate = """
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
        You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
        ' }}{% endif %}{{'<|im_start|>' + message['role'] + '
        ' + message['content'] + '<|im_end|>' + '
        '}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
        ' }}{% endif %}
        """
    static let smolLMSystemPrompt = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

    /// The usual ChatML template without a default system prompt (escaped newlines).
    static let plainChatMLTemplate = #"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"#

    func testSmolLMTemplateIsChatMLWithItsDefaultSystemPrompt() throws {
        XCTAssertEqual(try ChatTemplate.detect(from: Self.smolLMTemplate), .chatML(defaultSystemPrompt: Self.smolLMSystemPrompt))
    }

    func testTheModelFilesTemplateIsDetected() throws {
        let template = try ReferenceFiles.smolLMChatTemplate()
        XCTAssertEqual(template, Self.smolLMTemplate)
        XCTAssertEqual(try ChatTemplate.detect(from: template), .chatML(defaultSystemPrompt: Self.smolLMSystemPrompt))
    }

    func testPlainChatMLTemplateHasNoDefaultSystemPrompt() throws {
        XCTAssertEqual(try ChatTemplate.detect(from: Self.plainChatMLTemplate), .chatML(defaultSystemPrompt: nil))
    }

    // Expected strings below are jinja2's output for the SmolLM2 template.

    func testDefaultSystemPromptIsInsertedBeforeAFirstUserMessage() throws {
        let template = try ChatTemplate.detect(from: Self.smolLMTemplate)
        XCTAssertEqual(
            template.render([ChatMessage(role: "user", content: "Hello")], addGenerationPrompt: true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n")
    }

    func testGivenSystemMessageReplacesTheDefault() throws {
        let template = try ChatTemplate.detect(from: Self.smolLMTemplate)
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi")]
        XCTAssertEqual(
            template.render(messages, addGenerationPrompt: true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    func testMultiTurnWithoutGenerationPrompt() throws {
        let template = try ChatTemplate.detect(from: Self.smolLMTemplate)
        let messages = [
            ChatMessage(role: "user", content: "What is 2+2?"), ChatMessage(role: "assistant", content: "4"),
            ChatMessage(role: "user", content: "Thanks"),
        ]
        XCTAssertEqual(
            template.render(messages, addGenerationPrompt: false),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nThanks<|im_end|>\n")
    }

    func testOnlyTheFirstMessageDecidesAboutTheDefaultSystemPrompt() throws {
        let template = try ChatTemplate.detect(from: Self.smolLMTemplate)
        let messages = [ChatMessage(role: "assistant", content: "I start"), ChatMessage(role: "system", content: "late system")]
        XCTAssertEqual(
            template.render(messages, addGenerationPrompt: true),
            "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>assistant\nI start<|im_end|>\n<|im_start|>system\nlate system<|im_end|>\n<|im_start|>assistant\n")
    }

    func testNoMessagesRendersOnlyTheGenerationPrompt() throws {
        let template = try ChatTemplate.detect(from: Self.smolLMTemplate)
        XCTAssertEqual(template.render([], addGenerationPrompt: true), "<|im_start|>assistant\n")
    }

    func testRenderedPromptTokenizesWithControlTokens() throws {
        let tokenizer = try ReferenceFiles.smolLMTokenizer()
        let prompt = try ChatTemplate.detect(from: Self.smolLMTemplate)
            .render([ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        let ids = tokenizer.encode(prompt)
        XCTAssertEqual(ids.first, 1)
        XCTAssertEqual(ids.filter { $0 == 1 }.count, 3)
        XCTAssertEqual(ids.filter { $0 == 2 }.count, 2)
    }

    func testMissingTemplateIsUnsupported() {
        XCTAssertThrowsError(try ChatTemplate.detect(from: nil)) { error in
            guard case TokenizerError.unsupportedChatTemplate(let reason) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(reason.contains("no chat template"), reason)
        }
    }

    func testNonChatMLTemplateIsUnsupportedWithAClearMessage() {
        let llama3 = "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
        XCTAssertThrowsError(try ChatTemplate.detect(from: llama3)) { error in
            guard case TokenizerError.unsupportedChatTemplate = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("supported: ChatML") && "\(error)".contains("Gemma"), "\(error)")
        }
    }

    func testChatMLTemplateWithToolsIsUnsupported() {
        let withTools = Self.plainChatMLTemplate + "{% if tools %}{{ tools | tojson }}{% endif %}"
        XCTAssertThrowsError(try ChatTemplate.detect(from: withTools)) { error in
            XCTAssertTrue("\(error)".contains("'tools'"), "\(error)")
        }
    }

    func testChatMessageIsCodableAsRoleAndContent() throws {
        let message = ChatMessage(role: "user", content: "Hi")
        let data = try JSONEncoder().encode(message)
        XCTAssertEqual(try JSONDecoder().decode(ChatMessage.self, from: data), message)
        let decoded = try JSONDecoder().decode(ChatMessage.self, from: Data(#"{"role":"assistant","content":"ok"}"#.utf8))
        XCTAssertEqual(decoded, ChatMessage(role: "assistant", content: "ok"))
    }
}
