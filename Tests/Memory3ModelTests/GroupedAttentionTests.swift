import Memory3TestSupport
@testable import Memory3Model
import XCTest

/// Attention runs the query heads that share a KV head together, and reads memory as fp16.
/// Neither may change what a head computes: each head's sums run in the same order whichever
/// heads share its pass, so splits of the heads across threads agree exactly.
final class GroupedAttentionTests: XCTestCase {
    let prompt = [3, 17, 42, 5, 5, 29, 0, 11]

    /// 6 query heads over 2 KV heads (groups of 3, as SmolLM2), head dim 16.
    func factory() -> TinyLlamaFactory {
        var f = TinyLlamaFactory()
        f.embedding = 96
        f.heads = 6
        f.kvHeads = 2
        return f
    }

    /// Prefill 5 tokens then decode 1 with `memory`, on a model with `threads` threads.
    func logits(threads: Int, memory: (LlamaModel) throws -> [MemorySegment]) throws -> [Float] {
        let model = try factory().makeModel(threads: threads)
        let segments = try memory(model)
        let cache = model.makeCache(capacity: 16, positionOffset: prompt.count)
        let prefill = try model.forward([9, 10, 11, 12, 13], cache: cache, memory: segments, logits: .all)
        return prefill + (try model.forward([14], cache: cache, memory: segments, logits: .last))
    }

    /// The prompt's key/values as a memory segment.
    func promptSegment(_ model: LlamaModel, bias: Float = 0) throws -> MemorySegment {
        let cache = model.makeCache(capacity: prompt.count)
        _ = try model.forward(prompt, cache: cache)
        var segment = cache.segment(tokens: 0 ..< prompt.count)
        segment.logitBias = bias
        return segment
    }

    func testEverySplitOfTheHeadsAcrossThreadsGivesTheSameLogits() throws {
        // 3 threads cut a decode step's 6 heads into chunks of 2: groups split across threads.
        let memory = { (model: LlamaModel) in
            let whole = try self.promptSegment(model)
            let half = MemorySegment(layers: whole.layers, kvHeadCount: 2, headDim: 16, tokenCount: whole.tokenCount,
                                     keys: whole.keys, values: whole.values, logitBias: -1, precision: .float16)
            return [whole, half]
        }
        let one = try logits(threads: 1, memory: memory)
        for threads in [2, 3, 4] {
            XCTAssertEqual(try logits(threads: threads, memory: memory), one, "\(threads) threads")
        }
        let noMemory = try logits(threads: 1) { _ in [] }
        XCTAssertEqual(try logits(threads: 3) { _ in [] }, noMemory)
        XCTAssertNotEqual(noMemory, one, "the memory should matter")
    }

    func testAnFp16SegmentReadsExactlyLikeFp32KeyValuesRoundedToFp16() throws {
        let rounded = { (x: [Float]) in x.map { Float(Float16($0)) } }
        // The cache holds fp16 values already: nudged off the fp16 grid, they need rounding again.
        let offGrid = { (x: [Float]) in x.map { $0 * 1.000_3 } }
        func segment(_ model: LlamaModel, _ precision: MemorySegment.Precision, round: Bool) throws -> [MemorySegment] {
            let s = try promptSegment(model)
            let keys = offGrid(s.keys), values = offGrid(s.values)
            return [MemorySegment(layers: s.layers, kvHeadCount: 2, headDim: 16, tokenCount: s.tokenCount,
                                  keys: round ? rounded(keys) : keys, values: round ? rounded(values) : values,
                                  precision: precision)]
        }
        let half = try logits(threads: 2) { try segment($0, .float16, round: false) }
        let roundedFloats = try logits(threads: 2) { try segment($0, .float32, round: true) }
        let exact = try logits(threads: 2) { try segment($0, .float32, round: false) }
        XCTAssertEqual(half, roundedFloats)
        let worst = zip(half, exact).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(worst, 0, "fp16 rounding should show")
        // The random tiny model amplifies: 11-bit keys/values move its logits by ~0.6% of their
        // range (measured), where garbage bits would move them by about the whole range.
        let range = exact.map { abs($0) }.max()!
        XCTAssertLessThan(worst, 0.02 * range, "but only at fp16 precision")
    }

    /// An int8 segment (the memory's default) reads close to its floats, its prefix keys scaled
    /// apart, and every split of the heads across threads gives the same logits (head dim 16 takes
    /// the float path of the int8 scores; the VNNI path is the kernel tests').
    func testAnInt8SegmentReadsCloseToItsFloatsOnEveryThreadSplit() throws {
        func segment(_ model: LlamaModel, _ precision: MemorySegment.Precision) throws -> [MemorySegment] {
            let s = try promptSegment(model)
            return [MemorySegment(layers: s.layers, kvHeadCount: 2, headDim: 16, rowTokens: s.tokenCount,
                                  keeping: 0 ..< s.tokenCount, keys: s.keys, values: s.values, logitBias: -0.5,
                                  precision: precision, keyLeadTokens: 1)]
        }
        let int8 = try logits(threads: 1) { try segment($0, .int8) }
        for threads in [2, 3] {
            XCTAssertEqual(try logits(threads: threads) { try segment($0, .int8) }, int8, "\(threads) threads")
        }
        let exact = try logits(threads: 1) { try segment($0, .float32) }
        let worst = zip(int8, exact).map { abs($0 - $1) }.max()!
        let range = exact.map { abs($0) }.max()!
        XCTAssertGreaterThan(worst, 0, "int8 rounding should show")
        XCTAssertLessThan(worst, 0.05 * range, "but only at int8 precision")
    }

    /// Through attention, an int8 segment reads like the float segment of its own dequantized
    /// key/values (`segment.keys` / `.values`: codes times the scales of their row, lead group and
    /// token): at head dim 16 (the float kernels) to float rounding (measured: the same bits), at
    /// head dim 64 (the VNNI scores on machines with it) to the query's int8 rounding (measured:
    /// 0.33% of the logits' range). Every head reading the first KV head's key scales, or the body's
    /// scales read for the prefix, misses by 3-4% (checked).
    func testAnInt8SegmentReadsLikeItsDequantizedFloatsThroughAttention() throws {
        for (embedding, bound) in [(96, Float(1e-5)), (384, Float(1e-2))] {
            var f = factory()
            f.embedding = embedding
            let model = try f.makeModel(threads: 2)
            let s = try promptSegment(model)
            let headDim = embedding / 6
            let int8 = MemorySegment(layers: s.layers, kvHeadCount: 2, headDim: headDim, rowTokens: s.tokenCount,
                                     keeping: 0 ..< s.tokenCount, keys: s.keys, values: s.values, logitBias: -0.5,
                                     precision: .int8, keyLeadTokens: 2)
            let floats = MemorySegment(layers: s.layers, kvHeadCount: 2, headDim: headDim, tokenCount: s.tokenCount,
                                       keys: int8.keys, values: int8.values, logitBias: -0.5, precision: .float32)
            func read(_ segment: MemorySegment) throws -> [Float] {
                let cache = model.makeCache(capacity: 16, positionOffset: prompt.count)
                let prefill = try model.forward([9, 10, 11, 12, 13], cache: cache, memory: [segment], logits: .all)
                return prefill + (try model.forward([14], cache: cache, memory: [segment], logits: .last))
            }
            let got = try read(int8), want = try read(floats)
            let range = want.map { abs($0) }.max()!
            let worst = zip(got, want).map { abs($0 - $1) }.max()!
            XCTAssertLessThanOrEqual(worst, bound * range, "head dim \(headDim)")
        }
    }
}
