import CKernels
import Foundation

/// Extra key/values that attention reads before the context: the seam between explicit memory
/// and the model. Keys are stored after RoPE, so every kept token keeps the position it was
/// encoded at; context tokens see every memory token (memory precedes the context).
public struct MemorySegment: Sendable, Equatable {
    /// How the key/values are held while attention reads them.
    public enum Precision: Sendable {
        /// Exact copies (a context's own key/values, tests).
        case float32
        /// Half the bytes to read per token. Why: during decode, attention over memory is bound by
        /// reading the key/values (measured), and a memory decoded from int8, int4 or fp16 codes
        /// loses next to nothing more by rounding to fp16 (11 significant bits vs at most 8).
        case float16
    }

    /// Model layers this segment has key/values for, ascending; other layers see no memory.
    public let layers: [Int]
    public let kvHeadCount: Int
    public let headDim: Int
    /// Tokens per KV head (every head of every layer keeps the same count).
    public let tokenCount: Int
    /// Added to the attention logits of this segment's keys (a way to favour or damp one memory).
    public var logitBias: Float
    /// For a layer index, the slot in the storage, or nil when the segment skips that layer.
    let slotOfLayer: [Int?]
    /// [layers.count][kvHeadCount][tokenCount][headDim] keys (after RoPE) and values.
    let storage: SegmentStorage

    public var precision: Precision { storage.precision }
    /// The keys as floats, [layers.count][kvHeadCount][tokenCount][headDim].
    public var keys: [Float] { storage.floats(storage.keys) }
    /// The values as floats, same layout as `keys`.
    public var values: [Float] { storage.floats(storage.values) }

    public init(layers: [Int], kvHeadCount: Int, headDim: Int, tokenCount: Int,
                keys: [Float], values: [Float], logitBias: Float = 0, precision: Precision = .float32) {
        precondition(keys.count == layers.count * kvHeadCount * tokenCount * headDim, "keys do not match the shape")
        precondition(values.count == keys.count, "values do not match the shape")
        self.init(layers: layers, kvHeadCount: kvHeadCount, headDim: headDim, rowTokens: tokenCount,
                  keeping: 0 ..< tokenCount, keys: keys, values: values, logitBias: logitBias, precision: precision)
    }

    /// A segment of the tokens `kept` of every (layer, KV head) row of `keys` and `values`, which
    /// are laid out [layers.count][kvHeadCount][rowTokens][headDim]; converted to `precision` in
    /// the same pass that copies them.
    public init(layers: [Int], kvHeadCount: Int, headDim: Int, rowTokens: Int, keeping kept: Range<Int>,
                keys: [Float], values: [Float], logitBias: Float = 0, precision: Precision) {
        let rows = layers.count * kvHeadCount
        precondition(keys.count == rows * rowTokens * headDim, "keys do not match the shape")
        precondition(values.count == keys.count, "values do not match the shape")
        precondition(kept.lowerBound >= 0 && kept.upperBound <= rowTokens, "kept tokens outside the rows")
        self.layers = layers
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.tokenCount = kept.count
        self.logitBias = logitBias
        self.storage = SegmentStorage(rows: rows, rowTokens: rowTokens, kept: kept, headDim: headDim,
                                      keys: keys, values: values, precision: precision)
        var slots = [Int?](repeating: nil, count: (layers.max() ?? -1) + 1)
        for (slot, layer) in layers.enumerated() { slots[layer] = slot }
        self.slotOfLayer = slots
    }

    @inline(__always)
    func slot(ofLayer layer: Int) -> Int? {
        layer < slotOfLayer.count ? slotOfLayer[layer] : nil
    }

    /// Element offset of (slot, head, token 0) in the storage.
    @inline(__always)
    func offset(slot: Int, head: Int) -> Int {
        (slot * kvHeadCount + head) * tokenCount * headDim
    }

    func validate(for config: DecoderConfig) throws {
        guard kvHeadCount == config.kvHeadCount, headDim == config.headDim else {
            throw ModelError.memoryShapeMismatch(
                "segment has \(kvHeadCount) KV heads of \(headDim) dims, the model \(config.kvHeadCount) of \(config.headDim)")
        }
        guard layers.allSatisfy({ $0 >= 0 && $0 < config.layerCount }) else {
            throw ModelError.memoryShapeMismatch("segment names layers outside 0..<\(config.layerCount)")
        }
    }

    public static func == (a: MemorySegment, b: MemorySegment) -> Bool {
        a.layers == b.layers && a.kvHeadCount == b.kvHeadCount && a.headDim == b.headDim && a.tokenCount == b.tokenCount
            && a.logitBias == b.logitBias && a.storage.sameContents(as: b.storage)
    }
}

/// The immutable key/value bytes of a segment. A class so that copies of a segment (to change its
/// bias) share them, and so that attention can hold their addresses for a whole layer.
final class SegmentStorage: @unchecked Sendable {
    let precision: MemorySegment.Precision
    let elements: Int
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer

    /// The element type as the attention kernels name it.
    var kernelType: Int32 { precision == .float16 ? Int32(M3_KV_F16) : Int32(M3_KV_F32) }
    var elementBytes: Int { precision == .float16 ? 2 : 4 }

    init(rows: Int, rowTokens: Int, kept: Range<Int>, headDim: Int, keys: [Float], values: [Float],
         precision: MemorySegment.Precision) {
        self.precision = precision
        let rowElements = kept.count * headDim
        elements = rows * rowElements
        let bytes = max(1, elements * (precision == .float16 ? 2 : 4))
        self.keys = .allocate(byteCount: bytes, alignment: 32)
        self.values = .allocate(byteCount: bytes, alignment: 32)
        for (source, target) in [(keys, self.keys), (values, self.values)] {
            source.withUnsafeBufferPointer { s in
                for row in 0 ..< rows {
                    let from = s.baseAddress! + (row * rowTokens + kept.lowerBound) * headDim
                    switch precision {
                    case .float32:
                        (target.assumingMemoryBound(to: Float.self) + row * rowElements).update(from: from, count: rowElements)
                    case .float16:
                        m3_fp32_to_fp16(from, target.assumingMemoryBound(to: UInt16.self) + row * rowElements, rowElements)
                    }
                }
            }
        }
    }

    deinit {
        keys.deallocate()
        values.deallocate()
    }

    func floats(_ p: UnsafeMutableRawPointer) -> [Float] {
        switch precision {
        case .float32:
            return Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: elements))
        case .float16:
            return [Float](unsafeUninitializedCapacity: elements) { out, count in
                m3_fp16_to_fp32_row(p.assumingMemoryBound(to: UInt16.self), out.baseAddress!, elements)
                count = elements
            }
        }
    }

    func sameContents(as other: SegmentStorage) -> Bool {
        guard precision == other.precision, elements == other.elements else { return false }
        let bytes = elements * elementBytes
        return memcmp(keys, other.keys, bytes) == 0 && memcmp(values, other.values, bytes) == 0
    }
}
