import Foundation
import GGUF
import Memory3Model

/// Writes small random Llama models as real GGUF files, so engine tests run in milliseconds
/// without the downloaded model. Weights are deterministic for a seed.
public struct TinyLlamaFactory {
    public init() {}

    public var embedding = 64
    public var heads = 4
    public var kvHeads = 2
    public var feedForward = 96
    public var layers = 2
    public var vocabulary = 48
    public var contextLength = 256
    public var weightType: GGMLType = .q4_1
    public var seed: UInt64 = 7
    /// Tensors to leave out (to test missing-tensor errors).
    public var omit: Set<String> = []
    public var architecture = "llama"
    /// Write a byte-level vocabulary (every byte, three ChatML control tokens, two merges) and a
    /// ChatML chat template, so that `Tokenizer(gguf:)` and `ChatTemplate.detect` work; the
    /// vocabulary size then follows the tokenizer.
    public var withTokenizer = false

    public static let chatTemplate = #"""
        {% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a tiny test model.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}
        """#

    /// GPT-2's byte-to-character mapping (printable Latin-1 maps to itself, the rest to U+0100...).
    public static func byteTokenTexts() -> [String] {
        var next: UInt32 = 256
        return (0 ..< 256).map { byte -> String in
            let printable = (33...126).contains(byte) || (161...172).contains(byte) || (174...255).contains(byte)
            if printable { return String(Unicode.Scalar(UInt32(byte))!) }
            defer { next += 1 }
            return String(Unicode.Scalar(next)!)
        }
    }

    public static var tokenizerTokens: [String] {
        byteTokenTexts() + ["Ġt", "he", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    }

    public func makeFile() throws -> GGUFFile {
        var random = SeededGenerator(seed: seed)
        func values(_ count: Int, scale: Float) -> [Float] {
            (0 ..< count).map { _ in (random.nextUnitFloat() * 2 - 1) * scale }
        }
        var w = GGUFWriter()
        var vocabulary = self.vocabulary
        if withTokenizer {
            let tokens = Self.tokenizerTokens
            vocabulary = tokens.count
            w.set("tokenizer.ggml.model", .string("gpt2"))
            w.set("tokenizer.ggml.pre", .string("smollm"))
            w.set("tokenizer.ggml.tokens", .array(tokens.map { .string($0) }))
            w.set("tokenizer.ggml.token_type", .array(tokens.map { .int32($0.hasPrefix("<|") ? 3 : 1) }))
            w.set("tokenizer.ggml.merges", .array([.string("Ġ t"), .string("h e")]))
            w.set("tokenizer.ggml.eos_token_id", .uint32(UInt32(tokens.count - 1)))
            w.set("tokenizer.ggml.bos_token_id", .uint32(UInt32(tokens.count - 3)))
            w.set("tokenizer.chat_template", .string(Self.chatTemplate))
        }
        w.set("general.architecture", .string(architecture))
        w.set("llama.block_count", .uint32(UInt32(layers)))
        w.set("llama.context_length", .uint32(UInt32(contextLength)))
        w.set("llama.embedding_length", .uint32(UInt32(embedding)))
        w.set("llama.feed_forward_length", .uint32(UInt32(feedForward)))
        w.set("llama.attention.head_count", .uint32(UInt32(heads)))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        w.set("llama.rope.freq_base", .float32(10000))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
        w.set("llama.vocab_size", .uint32(UInt32(vocabulary)))

        func matrix(_ name: String, columns: Int, rows: Int) {
            guard !omit.contains(name) else { return }
            let floats = values(columns * rows, scale: 1 / Float(columns).squareRoot() * 1.5)
            w.addTensor(name: name, dimensions: [columns, rows], type: weightType, data: Quantize.blocks(floats, as: weightType))
        }
        func norm(_ name: String) {
            guard !omit.contains(name) else { return }
            w.addTensor(name: name, dimensions: [embedding], floats: values(embedding, scale: 0.2).map { 1 + $0 })
        }
        let headDim = embedding / heads
        w.addTensor(name: "token_embd.weight", dimensions: [embedding, vocabulary], type: .q8_0,
                    data: Quantize.blocks(values(embedding * vocabulary, scale: 1), as: .q8_0))
        norm("output_norm.weight")
        for l in 0 ..< layers {
            let p = "blk.\(l)."
            norm(p + "attn_norm.weight")
            matrix(p + "attn_q.weight", columns: embedding, rows: heads * headDim)
            matrix(p + "attn_k.weight", columns: embedding, rows: kvHeads * headDim)
            matrix(p + "attn_v.weight", columns: embedding, rows: kvHeads * headDim)
            matrix(p + "attn_output.weight", columns: heads * headDim, rows: embedding)
            norm(p + "ffn_norm.weight")
            matrix(p + "ffn_gate.weight", columns: embedding, rows: feedForward)
            matrix(p + "ffn_up.weight", columns: embedding, rows: feedForward)
            matrix(p + "ffn_down.weight", columns: feedForward, rows: embedding)
        }
        return try GGUFFile(bytes: w.bytes())
    }

    public func makeModel(threads: Int = 2) throws -> LlamaModel {
        try LlamaModel(file: makeFile(), threads: threads)
    }
}
