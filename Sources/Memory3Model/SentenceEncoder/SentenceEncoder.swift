import CKernels
import Foundation
import Tokenizer

/// A BERT sentence encoder (all-MiniLM-L6-v2 and its kind): WordPiece tokens through the encoder
/// layers, the last layer's states averaged over the tokens and scaled to unit length, as
/// sentence-transformers' mean pooling + Normalize does. Used for dense retrieval: one vector per
/// reference at ingest and one per query chunk at each memory swap.
///
/// The linear layers' products run in bfloat16 by default (`Config.precision`): weights and inputs
/// rounded to bfloat16, sums in float32, everything else (attention, norms, GELU, pooling) in
/// float32. A memory swap waits for the encoder, and bfloat16 products run ~2.5x as fast on
/// AVX-512 BF16 (VDPBF16PS) as float32 ones; `.float32` keeps sentence-transformers' own numbers.
///
/// Each text is encoded alone (no padding), so its vector does not depend on the texts beside it.
public final class SentenceEncoder: Sendable {
    public struct Config: Sendable, Equatable {
        public var hiddenSize = 384
        public var layers = 6
        public var heads = 12
        public var intermediateSize = 1536
        public var vocabularySize = 30522
        public var maxPositions = 512
        public var typeVocabularySize = 2
        public var layerNormEpsilon: Float = 1e-12
        /// Longest input in tokens, [CLS] and [SEP] included (sentence-transformers' max_seq_length).
        public var maxTokens = 256
        /// The linear layers' number format.
        public var precision = Precision.bfloat16

        public init() {}
    }

    /// How the linear layers multiply.
    public enum Precision: String, Sendable, Equatable, CaseIterable {
        /// float32 weights and inputs (sentence-transformers' numbers, within float rounding).
        case float32
        /// bfloat16 weights and inputs, float32 sums (`m3_bf16_matmul`).
        case bfloat16
    }

    struct Linear: Sendable {
        enum Weights: Sendable {
            case float([Float])  // [out, in], row-major
            case bfloat16([UInt16])  // m3_bf16_pack_weights's layout
        }
        let weights: Weights
        let bias: [Float]
        let inputs: Int
        var outputs: Int { bias.count }

        init(weight: [Float], bias: [Float], precision: Precision) {
            self.bias = bias
            self.inputs = weight.count / bias.count
            switch precision {
            case .float32:
                weights = .float(weight)
            case .bfloat16:
                let (outputs, inputs) = (bias.count, weight.count / bias.count)
                var packed = [UInt16](repeating: 0, count: m3_bf16_packed_count(Int32(outputs), Int32(inputs)))
                m3_bf16_pack_weights(weight, Int32(outputs), Int32(inputs), &packed)
                weights = .bfloat16(packed)
            }
        }
    }

    struct Norm: Sendable {
        let weight: [Float]
        let bias: [Float]
    }

    struct Layer: Sendable {
        let query, key, value, attentionOutput: Linear
        let attentionNorm: Norm
        let intermediate, output: Linear
        let outputNorm: Norm
    }

    public let config: Config
    public let tokenizer: WordPieceTokenizer
    /// Names this encoder's vectors in the store (the model's name and its weights' digest), so
    /// that vectors of another encoder are never compared with its own.
    public let name: String
    public let threads: Int
    /// The word-embedding table (47 MB, of which a text reads a few rows) stays in the weights file
    /// when there is one, read a row at a time; the layers, read whole for every text, are in memory.
    let wordEmbeddings: WordTable
    let positionEmbeddings, typeEmbeddings: [Float]
    let embeddingNorm: Norm
    let layers: [Layer]

    public var dimensions: Int { config.hiddenSize }

    /// Loads a sentence-transformers folder: `model.safetensors` and `vocab.txt`.
    public convenience init(folder: String, name: String, config: Config = Config(), threads: Int = 1) throws {
        let weights = try SafetensorsFile(path: folder + "/model.safetensors")
        let tokenizer = try WordPieceTokenizer(vocabularyFile: folder + "/vocab.txt")
        try self.init(weights: weights, tokenizer: tokenizer, name: name, config: config, threads: threads)
    }

    public init(weights: SafetensorsFile, tokenizer: WordPieceTokenizer, name: String, config: Config = Config(), threads: Int = 1) throws {
        let h = config.hiddenSize
        guard config.heads > 0, h % config.heads == 0 else { throw ModelError.invalidConfig("hidden size \(h) is not a multiple of \(config.heads) heads") }
        func linear(_ prefix: String, _ outputs: Int, _ inputs: Int) throws -> Linear {
            Linear(weight: try weights.tensor(prefix + ".weight", shape: [outputs, inputs]), bias: try weights.tensor(prefix + ".bias", shape: [outputs]),
                   precision: config.precision)
        }
        func norm(_ prefix: String) throws -> Norm {
            Norm(weight: try weights.tensor(prefix + ".weight", shape: [h]), bias: try weights.tensor(prefix + ".bias", shape: [h]))
        }
        // Some exports prefix every tensor with "bert." (BertModel inside a task model).
        let root = weights.tensors["embeddings.word_embeddings.weight"] == nil && weights.tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        let table = root + "embeddings.word_embeddings.weight"
        if let path = weights.path {
            self.wordEmbeddings = try WordTable(path: path, offset: weights.checked(table, shape: [config.vocabularySize, h]).range.lowerBound)
        } else {
            self.wordEmbeddings = .memory(try weights.tensor(table, shape: [config.vocabularySize, h]))
        }
        self.positionEmbeddings = try weights.tensor(root + "embeddings.position_embeddings.weight", shape: [config.maxPositions, h])
        self.typeEmbeddings = try weights.tensor(root + "embeddings.token_type_embeddings.weight", shape: [config.typeVocabularySize, h])
        self.embeddingNorm = try norm(root + "embeddings.LayerNorm")
        self.layers = try (0 ..< config.layers).map { i in
            let p = root + "encoder.layer.\(i)."
            return Layer(query: try linear(p + "attention.self.query", h, h), key: try linear(p + "attention.self.key", h, h),
                         value: try linear(p + "attention.self.value", h, h), attentionOutput: try linear(p + "attention.output.dense", h, h),
                         attentionNorm: try norm(p + "attention.output.LayerNorm"),
                         intermediate: try linear(p + "intermediate.dense", config.intermediateSize, h),
                         output: try linear(p + "output.dense", h, config.intermediateSize), outputNorm: try norm(p + "output.LayerNorm"))
        }
        guard tokenizer.vocabulary.count <= config.vocabularySize else {
            throw ModelError.invalidWeights("the vocabulary has \(tokenizer.vocabulary.count) tokens, the embeddings \(config.vocabularySize)")
        }
        guard config.maxTokens >= 2, config.maxTokens <= config.maxPositions else {
            throw ModelError.invalidConfig("maxTokens \(config.maxTokens) must be in 2...\(config.maxPositions)")
        }
        self.config = config
        self.tokenizer = tokenizer
        self.name = name
        self.threads = max(1, threads)
    }

    deinit {
        if case .file(let descriptor, _) = wordEmbeddings { close(descriptor) }
    }

    /// The unit-length embeddings of `texts`, each encoded alone.
    public func embed(_ texts: [String]) -> [[Float]] { texts.map(embed) }

    /// The unit-length embedding of `text` (its first `config.maxTokens` - 2 word pieces).
    public func embed(_ text: String) -> [Float] {
        embed(tokens: tokenizer.encode(text, maxTokens: config.maxTokens))
    }

    /// The unit-length embedding of WordPiece `tokens` ([CLS] ... [SEP] included).
    public func embed(tokens: [Int]) -> [Float] {
        let n = tokens.count, h = config.hiddenSize
        guard n > 0 else { return [Float](repeating: 0, count: h) }
        var x = [Float](repeating: 0, count: n * h)
        var row = [Float](repeating: 0, count: h)
        for (i, token) in tokens.enumerated() {
            wordEmbeddings.read(row: min(max(token, 0), config.vocabularySize - 1), into: &row)
            for d in 0 ..< h {
                x[i * h + d] = row[d] + positionEmbeddings[i * h + d] + typeEmbeddings[d]
            }
        }
        layerNorm(&x, embeddingNorm, rows: n)
        for layer in layers { apply(layer, to: &x, rows: n) }
        var mean = [Double](repeating: 0, count: h)
        for i in 0 ..< n { for d in 0 ..< h { mean[d] += Double(x[i * h + d]) } }
        let length = mean.reduce(0) { $0 + $1 * $1 }.squareRoot()
        guard length > 0 else { return [Float](repeating: 0, count: h) }
        return mean.map { Float($0 / length) }
    }

    private func apply(_ layer: Layer, to x: inout [Float], rows n: Int) {
        let input = LinearInput(x, rows: n, precision: config.precision)
        let q = matmul(input, layer.query), k = matmul(input, layer.key), v = matmul(input, layer.value)
        let context = attend(q: q, k: k, v: v, rows: n)
        var attended = matmul(LinearInput(context, rows: n, precision: config.precision), layer.attentionOutput)
        for i in attended.indices { attended[i] += x[i] }
        layerNorm(&attended, layer.attentionNorm, rows: n)
        var inner = matmul(LinearInput(attended, rows: n, precision: config.precision), layer.intermediate)
        // GELU, each element alone (the same bits however split): ~100k a layer for a 64-token
        // chunk; with libm's erff, a fifth of the encoder's time on one thread.
        inner.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let a = p.baseAddress!
            Parallel.forChunks(of: p.count, threads: threads, minimumChunk: 8192) { range in
                m3_gelu_erf(a + range.lowerBound, range.count)
            }
        }
        var out = matmul(LinearInput(inner, rows: n, precision: config.precision), layer.output)
        for i in out.indices { out[i] += attended[i] }
        layerNorm(&out, layer.outputNorm, rows: n)
        x = out
    }

    /// Multi-head self-attention over all rows (no mask: every text is encoded alone, unpadded).
    /// Per head, the scores and the weighted values are two float matrix products in the C kernel;
    /// the heads are split across threads, one run of heads per thread (each head's columns of the
    /// result are its own; a run's scratch is allocated once).
    private func attend(q: [Float], k: [Float], v: [Float], rows n: Int) -> [Float] {
        let h = config.hiddenSize, heads = config.heads, dh = h / heads
        let scale = 1 / Float(dh).squareRoot()
        var context = [Float](repeating: 0, count: n * h)
        context.withUnsafeMutableBufferPointer { c in
            nonisolated(unsafe) let contextBase = c.baseAddress!
            Parallel.forChunks(of: heads, threads: threads, minimumChunk: (heads + threads - 1) / threads) { range in
                var qh = [Float](repeating: 0, count: n * dh), kh = qh, vt = qh
                var scores = [Float](repeating: 0, count: n * n)
                var out = [Float](repeating: 0, count: n * dh)
                for head in range {
                    let o = head * dh
                    for i in 0 ..< n {
                        for d in 0 ..< dh {
                            qh[i * dh + d] = q[i * h + o + d] * scale
                            kh[i * dh + d] = k[i * h + o + d]
                            vt[d * n + i] = v[i * h + o + d]
                        }
                    }
                    m3_f32_matmul_nt(qh, Int32(n), Int32(dh), kh, 0, Int32(n), nil, &scores, Int32(n))
                    scores.withUnsafeMutableBufferPointer { p in
                        for i in 0 ..< n { m3_softmax(p.baseAddress! + i * n, Int32(n)) }
                    }
                    m3_f32_matmul_nt(scores, Int32(n), Int32(n), vt, 0, Int32(dh), nil, &out, Int32(dh))
                    for i in 0 ..< n {
                        for d in 0 ..< dh { contextBase[i * h + o + d] = out[i * dh + d] }
                    }
                }
            }
        }
        return context
    }

    /// A linear layer's input rows in the form its weights multiply (made once for Q, K and V).
    struct LinearInput {
        let rows: Int
        let floats: [Float]
        /// bfloat16 pairs (`m3_f32_to_bf16_pairs`) for bfloat16 weights; empty for float32.
        let pairs: [UInt32]

        init(_ x: [Float], rows: Int, precision: Precision) {
            self.rows = rows
            floats = x
            guard precision == .bfloat16, rows > 0 else { pairs = []; return }
            let k = x.count / rows
            var pairs = [UInt32](repeating: 0, count: rows * ((k + 1) / 2))
            m3_f32_to_bf16_pairs(x, Int32(rows), Int32(k), &pairs)
            self.pairs = pairs
        }
    }

    /// x [rows, in] times the layer's weight transposed, plus its bias: [rows, out]. Outputs are
    /// split across threads; each token's result is the same however split.
    private func matmul(_ input: LinearInput, _ linear: Linear) -> [Float] {
        let outputs = linear.outputs, inputs = linear.inputs, n = input.rows, x = input.floats
        var out = [Float](repeating: 0, count: n * outputs)
        out.withUnsafeMutableBufferPointer { op in
            nonisolated(unsafe) let oa = op.baseAddress
            linear.bias.withUnsafeBufferPointer { bp in
                let ba = bp.baseAddress
                switch linear.weights {
                case .float(let weight):
                    x.withUnsafeBufferPointer { xp in
                        weight.withUnsafeBufferPointer { wp in
                            let (xa, wa) = (xp.baseAddress, wp.baseAddress)
                            // Chunks of whole 4-row tiles (the kernel's fast path; the bits are the same either way).
                            Parallel.forChunks(of: outputs, threads: threads, minimumChunk: 16, alignment: 4) { range in
                                m3_f32_matmul_nt(xa, Int32(n), Int32(inputs), wa, Int32(range.lowerBound), Int32(range.upperBound), ba, oa, Int32(outputs))
                            }
                        }
                    }
                case .bfloat16(let packed):
                    let pairs = (inputs + 1) / 2
                    input.pairs.withUnsafeBufferPointer { xp in
                        packed.withUnsafeBufferPointer { wp in
                            let (xa, wa) = (xp.baseAddress, wp.baseAddress)
                            // Blocks of 16 outputs, in runs of 4 (the kernel's tile).
                            Parallel.forChunks(of: (outputs + 15) / 16, threads: threads, minimumChunk: 4, alignment: 4) { range in
                                m3_bf16_matmul(xa, Int32(n), Int32(pairs), wa, Int32(outputs), Int32(range.lowerBound), Int32(range.upperBound),
                                               ba, oa, Int32(outputs))
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    private func layerNorm(_ x: inout [Float], _ norm: Norm, rows n: Int) {
        let h = config.hiddenSize
        for i in 0 ..< n {
            var mean: Float = 0
            for d in 0 ..< h { mean += x[i * h + d] }
            mean /= Float(h)
            var variance: Float = 0
            for d in 0 ..< h { let c = x[i * h + d] - mean; variance += c * c }
            variance /= Float(h)
            let inverse = 1 / (variance + config.layerNormEpsilon).squareRoot()
            for d in 0 ..< h { x[i * h + d] = (x[i * h + d] - mean) * inverse * norm.weight[d] + norm.bias[d] }
        }
    }
}

/// Where the word-embedding rows are: in memory, or in the weights file (read with `pread`, which
/// any number of threads may call at once; the file's pages sit in the page cache, not in this
/// process's memory).
enum WordTable: Sendable {
    case memory([Float])
    case file(descriptor: Int32, offset: Int)

    init(path: String, offset: Int) throws {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ModelError.invalidWeights("cannot open \(path)") }
        self = .file(descriptor: descriptor, offset: offset)
    }

    func read(row: Int, into out: inout [Float]) {
        let width = out.count
        switch self {
        case .memory(let values):
            for d in 0 ..< width { out[d] = values[row * width + d] }
        case .file(let descriptor, let offset):
            let bytes = width * 4
            let done = out.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress, bytes, off_t(offset + row * bytes)) }
            // The file was checked to hold the whole table when it was opened; a short read means it
            // changed underneath: the row reads as zeros rather than as stale bytes.
            if done != bytes { for d in 0 ..< width { out[d] = 0 } }
        }
    }
}
