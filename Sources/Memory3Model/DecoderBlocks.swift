import CKernels
import Foundation

/// The pieces every architecture's forward pass is made of, written once: RMS norms (whole rows
/// and per head), residual adds, gated activations, key/value stores, the batch layout and the
/// gathered output projection.
enum DecoderBlocks {
    /// out[t] = x[t] / rms(x[t]) * weight, for `rows` rows of `width`.
    static func rmsNorm(_ x: UnsafePointer<Float>, weight: [Float], rows: Int, width: Int, epsilon: Float,
                        into out: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            for t in 0 ..< rows {
                let row = x + t * width
                let meanSquare = RowKernels.dot(row, row, count: width) / Float(width)
                let scale = 1 / (meanSquare + epsilon).squareRoot()
                let o = out + t * width
                for i in 0 ..< width { o[i] = row[i] * scale * w[i] }
            }
        }
    }

    /// RMS norm of every head vector in place (QK-norm): `rows` rows of `heads` vectors of `headDim`.
    static func rmsNormHeads(_ x: UnsafeMutablePointer<Float>, weight: [Float], rows: Int, heads: Int, headDim: Int,
                             epsilon: Float) {
        rmsNorm(x, weight: weight, rows: rows * heads, width: headDim, epsilon: epsilon, into: x)
    }

    /// x[t] += bias for `rows` rows of bias.count.
    static func addBias(_ bias: [Float], to x: UnsafeMutablePointer<Float>, rows: Int) {
        bias.withUnsafeBufferPointer { b in
            for t in 0 ..< rows {
                let row = x + t * b.count
                for i in 0 ..< b.count { row[i] += b[i] }
            }
        }
    }

    static func add(_ delta: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0 ..< count { x[i] += delta[i] }
    }

    static func scale(_ x: UnsafeMutablePointer<Float>, by factor: Float, count: Int) {
        for i in 0 ..< count { x[i] *= factor }
    }

    /// Elements from which an activation is split across threads (a prompt's 512 tokens of
    /// SmolLM2 are 786,432; a decode step's 1,536 are not worth a fork/join). Every element is
    /// computed alone, and chunks start on multiples of 16 (the kernels' vector width: an element
    /// never moves between a vector body and a scalar tail), so the result is the same bits
    /// however it is split.
    static let parallelActivationMinimum = 16_384

    /// Runs `body` over 0..<count, split across `threads` when count is large enough.
    static func forActivationChunks(of count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        guard threads > 1, count >= parallelActivationMinimum else { return body(0 ..< count) }
        Parallel.forChunks(of: count, threads: threads, minimumChunk: parallelActivationMinimum / 2, alignment: 16, body)
    }

    /// gate <- silu(gate) * up (SwiGLU: Llama, Qwen), in C (`m3_swiglu`, vector e^x). With expf
    /// per element in Swift it was 16.5% of SmolLM2's prefill on one thread (2026-12-04) and ~5%
    /// of a decode step.
    static func swiGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int, threads: Int = 1) {
        forActivationChunks(of: count, threads: threads) { range in
            m3_swiglu(gate + range.lowerBound, up + range.lowerBound, range.count)
        }
    }

    /// gate <- gelu(gate) * up (GeGLU: Gemma), with GELU's tanh form evaluated as GGML's CPU
    /// backend does: from a table over fp16 inputs (the input rounded to fp16, the result rounded
    /// to fp16), identity past +-10. The lookup runs in C (`m3_geglu_fp16_table`); it was the
    /// serial tanhf of every element before (~10% of Gemma's prefill).
    static func geGLU(_ gate: UnsafeMutablePointer<Float>, _ up: UnsafePointer<Float>, count: Int, threads: Int = 1) {
        geluFP16Table.withUnsafeBufferPointer { table in
            forActivationChunks(of: count, threads: threads) { range in
                m3_geglu_fp16_table(gate + range.lowerBound, up + range.lowerBound, range.count, table.baseAddress!)
            }
        }
    }

    /// GELU (tanh form) of every fp16 bit pattern, rounded to fp16: what GGML's table holds.
    static let geluFP16Table: [Float] = (0 ... UInt16.max).map { bits in
        let h = Float(Float16(bitPattern: bits))
        return Float(Float16(gelu(h)))
    }

    /// GELU's tanh form in Float.
    static func gelu(_ x: Float) -> Float {
        let sqrt2OverPi: Float = 0.79788456080286535587989211986876
        return 0.5 * x * (1 + tanhf(sqrt2OverPi * x * (1 + 0.044715 * x * x)))
    }

    /// Shows each observing request its rows of one layer's queries and keys as attention reads
    /// them (`LayerProjections.Stage.attended`); nothing when no request observes.
    static func observeAttended(_ batch: [ForwardRequest], _ sequences: [Attention.Sequence], layer: Int,
                                queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, scoreScale: Float,
                                config c: DecoderConfig) {
        for (request, sequence) in zip(batch, sequences) {
            guard let observe = request.observe else { continue }
            var seen = LayerProjections(layer: layer, tokens: sequence.tokens, firstIndex: sequence.firstIndex,
                                        queries: queries + sequence.row * c.queryDim, keys: keys + sequence.row * c.kvDim)
            seen.stage = .attended
            seen.scoreScale = scoreScale
            observe(seen)
        }
    }

    /// Copies a sequence's new keys and values (rows of the batch) into its cache at `layer`.
    static func storeKeyValues(keys: UnsafePointer<Float>, values: UnsafePointer<Float>, sequence: Attention.Sequence,
                               layer: Int, config c: DecoderConfig) {
        let cache = sequence.cache
        for t in 0 ..< sequence.tokens {
            let row = sequence.row + t
            for h in 0 ..< c.kvHeadCount {
                cache.store(layer: layer, head: h, token: sequence.firstIndex + t,
                            key: keys + row * c.kvDim + h * c.headDim, value: values + row * c.kvDim + h * c.headDim)
            }
        }
    }

    /// Rounds `count` floats to fp16 precision in place: the queries, as llama.cpp multiplies them
    /// with an fp16 key cache (it converts them to fp16 first).
    static func roundToHalf(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0 ..< count { x[i] = Float(Float16(x[i])) }
    }

    /// The batch's sequences laid out as consecutive rows, each token's embedding written to
    /// `x` by `embed(token, row)`.
    static func layout(_ batch: [ForwardRequest], embed: (Int, UnsafeMutablePointer<Float>) -> Void,
                       x: UnsafeMutablePointer<Float>, width: Int) -> [Attention.Sequence] {
        var sequences: [Attention.Sequence] = []
        sequences.reserveCapacity(batch.count)
        var row = 0
        for request in batch {
            sequences.append(Attention.Sequence(row: row, tokens: request.tokens.count, firstIndex: request.cache.count,
                                                cache: request.cache, memory: request.memory,
                                                probe: request.probe.map { ($0, request.probeTokenOffset) }))
            for token in request.tokens {
                embed(token, x + row * width)
                row += 1
            }
        }
        return sequences
    }

    /// The output projection of the rows that want logits, gathered so that one multiply serves
    /// the whole batch: each wanted row of `x` is normed into `normed`, projected, and handed back
    /// per request.
    static func logits(_ batch: [ForwardRequest], sequences: [Attention.Sequence], x: UnsafePointer<Float>,
                       normed: UnsafeMutablePointer<Float>, width: Int, vocabulary: Int,
                       norm: (UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void,
                       project: (UnsafePointer<Float>, Int, UnsafeMutablePointer<Float>) -> Void) -> [[Float]] {
        // Hidden states first, into arrays of their own (the logits rows reuse `normed`).
        var hidden: [Int: [Float]] = [:]
        for (index, (request, sequence)) in zip(batch, sequences).enumerated() where request.logits == .hidden {
            hidden[index] = [Float](unsafeUninitializedCapacity: sequence.tokens * width) { out, count in
                norm(x + sequence.row * width, sequence.tokens, out.baseAddress!)
                count = sequence.tokens * width
            }
        }
        var wanted = 0
        for (request, sequence) in zip(batch, sequences) {
            switch request.logits {
            case .none, .hidden: continue
            case .last:
                norm(x + (sequence.row + sequence.tokens - 1) * width, 1, normed + wanted * width)
                wanted += 1
            case .all:
                norm(x + sequence.row * width, sequence.tokens, normed + wanted * width)
                wanted += sequence.tokens
            }
        }
        let all = wanted == 0 ? [] : [Float](unsafeUninitializedCapacity: wanted * vocabulary) { out, count in
            project(normed, wanted, out.baseAddress!)
            count = wanted * vocabulary
        }
        if batch.count == 1 { return [hidden[0] ?? all] }
        var results: [[Float]] = []
        results.reserveCapacity(batch.count)
        var next = 0
        for (index, (request, sequence)) in zip(batch, sequences).enumerated() {
            if let states = hidden[index] {
                results.append(states)
                continue
            }
            let rows = request.logits == .none ? 0 : (request.logits == .last ? 1 : sequence.tokens)
            results.append(Array(all[next * vocabulary ..< (next + rows) * vocabulary]))
            next += rows
        }
        return results
    }
}
