import Memory3TestSupport
import Foundation
import GGUF
import Memory3Memory
import Memory3Model
import Tokenizer
import XCTest

/// The real model, loaded once for all tests.
enum SmolLM2 {
    nonisolated(unsafe) private static var loaded: (LlamaModel, Tokenizer, GGUFFile)?
    private static let lock = NSLock()

    static func load() throws -> (model: LlamaModel, tokenizer: Tokenizer, file: GGUFFile) {
        let path = try TestPaths.requireSmolLM2()
        return try lock.withLock {
            if let l = loaded { return l }
            let file = try GGUFFile(path: path)
            let l = (try LlamaModel(file: file), try Tokenizer(gguf: file), file)
            loaded = l
            return l
        }
    }

    nonisolated(unsafe) private static var loadedF16: (LlamaModel, Tokenizer, GGUFFile)?

    /// The real model's weights converted to F16, which the engine multiplies in float (the
    /// quantized kernels round activations to 8 bits, which makes logits jump by ~1 for any
    /// perturbation, however small). Built in memory once (~270 MB).
    static func loadF16() throws -> (model: LlamaModel, tokenizer: Tokenizer, file: GGUFFile) {
        let (_, tokenizer, original) = try load()
        return try lock.withLock {
            if let l = loadedF16 { return l }
            var w = GGUFWriter(version: original.version, alignment: original.alignment)
            for key in original.metadataKeys where key != "general.alignment" { w.set(key, original.metadata[key]!) }
            for t in original.tensors {
                let floats = original.floats(of: t)
                if t.type == .f32 {
                    w.addTensor(name: t.name, dimensions: t.dimensions, floats: floats)
                } else {
                    w.addTensor(name: t.name, dimensions: t.dimensions, type: .f16, data: Quantize.blocks(floats, as: .f16))
                }
            }
            let file = try GGUFFile(bytes: w.bytes())
            let l = (try LlamaModel(file: file), tokenizer, file)
            loadedF16 = l
            return l
        }
    }
}

/// Writes small random Llama models, with a byte-level tokenizer, as real GGUF files, so tests
/// run in milliseconds without the downloaded model. Weights are deterministic for a seed; the
/// name goes into `general.name` (so two factories with different names have different
/// fingerprints).
struct TinyLlamaFactory {
    var name = "tiny"
    var embedding = 64
    var heads = 4
    var kvHeads = 2
    var feedForward = 96
    var layers = 4
    var contextLength = 512
    var weightType: GGMLType = .q8_0
    var seed: UInt64 = 7

    /// 256 byte tokens in GPT-2's byte-to-character mapping, then <|endoftext|>.
    static var vocabulary: [String] { (0 ... 255).map { byteToken(UInt8($0)) } + ["<|endoftext|>"] }

    static func byteToken(_ b: UInt8) -> String {
        if (33 ... 126).contains(b) || (161 ... 172).contains(b) || (174 ... 255).contains(b) {
            return String(UnicodeScalar(b))
        }
        var shifted = 0
        for x in 0 ..< Int(b) where !((33 ... 126).contains(x) || (161 ... 172).contains(x) || (174 ... 255).contains(x)) {
            shifted += 1
        }
        return String(UnicodeScalar(UInt32(256 + shifted))!)
    }

    func makeWriter() -> GGUFWriter {
        var random = SeededGenerator(seed: seed)
        func values(_ count: Int, scale: Float) -> [Float] {
            (0 ..< count).map { _ in (random.nextUnitFloat() * 2 - 1) * scale }
        }
        let vocab = Self.vocabulary
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("general.name", .string(name))
        w.set("llama.block_count", .uint32(UInt32(layers)))
        w.set("llama.context_length", .uint32(UInt32(contextLength)))
        w.set("llama.embedding_length", .uint32(UInt32(embedding)))
        w.set("llama.feed_forward_length", .uint32(UInt32(feedForward)))
        w.set("llama.attention.head_count", .uint32(UInt32(heads)))
        w.set("llama.attention.head_count_kv", .uint32(UInt32(kvHeads)))
        w.set("llama.rope.freq_base", .float32(10000))
        w.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
        w.set("llama.vocab_size", .uint32(UInt32(vocab.count)))
        w.set("tokenizer.ggml.model", .string("gpt2"))
        w.set("tokenizer.ggml.pre", .string("smollm"))
        w.set("tokenizer.ggml.tokens", .array(vocab.map { .string($0) }))
        w.set("tokenizer.ggml.token_type", .array(vocab.indices.map { .int32($0 == 256 ? 3 : 1) }))
        w.set("tokenizer.ggml.merges", .array([]))
        w.set("tokenizer.ggml.eos_token_id", .uint32(256))

        func matrix(_ name: String, columns: Int, rows: Int) {
            let floats = values(columns * rows, scale: 1 / Float(columns).squareRoot() * 1.5)
            w.addTensor(name: name, dimensions: [columns, rows], type: weightType, data: Quantize.blocks(floats, as: weightType))
        }
        func norm(_ name: String) {
            w.addTensor(name: name, dimensions: [embedding], floats: values(embedding, scale: 0.2).map { 1 + $0 })
        }
        let headDim = embedding / heads
        w.addTensor(name: "token_embd.weight", dimensions: [embedding, vocab.count], type: .q8_0,
                    data: Quantize.blocks(values(embedding * vocab.count, scale: 1), as: .q8_0))
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
        return w
    }

    func makeFile() throws -> GGUFFile { try GGUFFile(bytes: makeWriter().bytes()) }

    func make(threads: Int = 2) throws -> (model: LlamaModel, tokenizer: Tokenizer, file: GGUFFile) {
        let file = try makeFile()
        return (try LlamaModel(file: file, threads: threads), try Tokenizer(gguf: file), file)
    }
}

/// Deterministic random memories for codec tests: keys with per-channel offsets and outlier
/// channels, values centred (the shapes real key/values have).
func randomMemory(layers: [Int] = [0, 1, 2], heads: Int = 3, headDim: Int = 64, tokens: Int = 45, prefix: Int = 2,
                  seed: UInt64 = 1, keyScale: Float = 4, valueScale: Float = 1) -> EncodedMemory {
    var random = SeededGenerator(seed: seed)
    let rows = layers.count * heads
    let n = rows * tokens * headDim
    let channelOffset = (0 ..< headDim).map { _ in (random.nextUnitFloat() * 2 - 1) * keyScale }
    var keys = [Float](repeating: 0, count: n)
    for i in 0 ..< n {
        let d = i % headDim
        let outlier: Float = d % 17 == 3 ? 8 : 1
        keys[i] = channelOffset[d] + (random.nextUnitFloat() * 2 - 1) * keyScale * outlier
    }
    let values = (0 ..< n).map { _ in (random.nextUnitFloat() * 2 - 1) * valueScale }
    let positions = (0 ..< rows).flatMap { _ in (0 ..< tokens).map { Int32($0 * 2) } }
    return EncodedMemory(layers: layers, kvHeadCount: heads, headDim: headDim, tokenCount: tokens,
                         prefixTokenCount: prefix, positions: positions, keys: keys, values: values)
}

func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var worst: Float = 0
    for i in a.indices { worst = max(worst, abs(a[i] - b[i])) }
    return worst
}
