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

    func testAnUnknownTemplateIsUnsupportedWithAClearMessage() {
        let alpaca = "{% for message in messages %}### {{ message['role'] }}:\n{{ message['content'] }}\n{% endfor %}"
        XCTAssertThrowsError(try ChatTemplate.detect(from: alpaca)) { error in
            guard case TokenizerError.unsupportedChatTemplate = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("supported: ChatML") && "\(error)".contains("Gemma") && "\(error)".contains("Llama 3"), "\(error)")
        }
    }

    func testChatMLTemplateWithAnUnguardedToolsFeatureIsUnsupported() {
        let withTools = Self.plainChatMLTemplate + "{{ tools | tojson }}"
        XCTAssertThrowsError(try ChatTemplate.detect(from: withTools)) { error in
            XCTAssertTrue("\(error)".contains("'tools'"), "\(error)")
        }
    }

    func testChatMLTemplateWhoseToolBranchOnlyRendersWithToolsIsChatML() throws {
        let qwenStyle = "{%- if tools %}{{- '<|im_start|>system\\n' }}{{ tools | tojson }}{%- endif %}" + Self.plainChatMLTemplate
        XCTAssertEqual(try ChatTemplate.detect(from: qwenStyle), .chatML(defaultSystemPrompt: nil))
    }

    static let gemmaTemplate = """
        {{ bos_token }}{%- if messages[0]['role'] == 'system' -%}{%- set first_user_prefix = messages[0]['content'] + '\n\n' -%}{%- set loop_messages = messages[1:] -%}{%- else -%}{%- set first_user_prefix = "" -%}{%- set loop_messages = messages -%}{%- endif -%}{%- for message in loop_messages -%}{%- if (message['role'] == 'assistant') -%}{%- set role = "model" -%}{%- else -%}{%- set role = message['role'] -%}{%- endif -%}{{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else "") }}{{ message['content'] | trim }}{{ '<end_of_turn>\n' }}{%- endfor -%}{%- if add_generation_prompt -%}{{'<start_of_turn>model\n'}}{%- endif -%}
        """

    func testGemmaTurnsWithASystemPrefixTrimmedContentAndTheModelRole() throws {
        let template = try ChatTemplate.detect(from: Self.gemmaTemplate)
        XCTAssertEqual(template, .gemma)
        let messages = [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "  Hi! \n"),
                        ChatMessage(role: "assistant", content: "Hello."), ChatMessage(role: "user", content: "Bye")]
        XCTAssertEqual(template.render(messages, addGenerationPrompt: true),
                       "<bos><start_of_turn>user\nBe brief.\n\nHi!<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
                       + "<start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\n")
        XCTAssertNil(template.problem(with: messages))
        let pieces = template.pieces(messages, addGenerationPrompt: false)
        XCTAssertEqual(pieces.first { $0.contentRole == "system" }?.text, "Be brief.\n\n")
    }

    func testGemmaRefusesTurnsThatDoNotAlternate() throws {
        let template = try ChatTemplate.detect(from: Self.gemmaTemplate)
        let problem = template.problem(with: [ChatMessage(role: "user", content: "a"), ChatMessage(role: "user", content: "b")])
        XCTAssertTrue(problem?.contains("alternate") == true, problem ?? "nil")
        XCTAssertNotNil(template.problem(with: [ChatMessage(role: "assistant", content: "first")]))
        XCTAssertNil(ChatTemplate.chatML(defaultSystemPrompt: nil).problem(with: [ChatMessage(role: "user", content: "a"),
                                                                                 ChatMessage(role: "user", content: "b")]))
    }

    func testLlama3HeadersAndRefusedLlama31Preamble() throws {
        let llama3 = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
        let template = try ChatTemplate.detect(from: llama3)
        XCTAssertEqual(template, .llama3)
        XCTAssertEqual(template.render([ChatMessage(role: "user", content: " Hi ")], addGenerationPrompt: true),
                       "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
        XCTAssertThrowsError(try ChatTemplate.detect(from: llama3 + "{{ date_string }}")) { error in
            XCTAssertTrue("\(error)".contains("date_string"), "\(error)")
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
