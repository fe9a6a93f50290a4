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
        /// A quarter of the floats' bytes: symmetric int8 codes, keys with one scale per channel
        /// (the kept reference prefix, the attention sink, with scales of its own) and values with
        /// one per token, the layout KV quantization holds best with. Why: reading five memories
        /// is bound by fetching their key/values (a 5-memory read of SmolLM2 is 7.3 MB a token
        /// as fp16; `perf` puts its time on waiting for those lines), and a memory decoded from
        /// int8 or narrower codes loses next to nothing more at 8 bits. Scales stay in the
        /// segment: attention folds key scales into the query and value scales into the weights.
        case int8

        /// Bytes of one stored element.
        var elementBytes: Int {
            switch self {
            case .float32: return 4
            case .float16: return 2
            case .int8: return 1
            }
        }

        /// The element type as the attention kernels name it.
        var kernelType: Int32 {
            switch self {
            case .float32: return Int32(M3_KV_F32)
            case .float16: return Int32(M3_KV_F16)
            case .int8: return Int32(M3_KV_I8)
            }
        }
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
    public var keys: [Float] { storage.floats(ofKeys: true) }
    /// The values as floats, same layout as `keys`.
    public var values: [Float] { storage.floats(ofKeys: false) }

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
    /// `keyLeadTokens`: how many kept tokens at the start of every row quantize their keys apart
    /// (int8 only: the reference prefix, whose sink keys would stretch the body's channel scales).
    public init(layers: [Int], kvHeadCount: Int, headDim: Int, rowTokens: Int, keeping kept: Range<Int>,
                keys: [Float], values: [Float], logitBias: Float = 0, precision: Precision, keyLeadTokens: Int = 0) {
        let rows = layers.count * kvHeadCount
        precondition(keys.count == rows * rowTokens * headDim, "keys do not match the shape")
        precondition(values.count == keys.count, "values do not match the shape")
        precondition(kept.lowerBound >= 0 && kept.upperBound <= rowTokens, "kept tokens outside the rows")
        precondition(keyLeadTokens >= 0 && keyLeadTokens <= kept.count, "key lead group longer than the kept tokens")
        self.layers = layers
        self.kvHeadCount = kvHeadCount
        self.headDim = headDim
        self.tokenCount = kept.count
        self.logitBias = logitBias
        self.storage = SegmentStorage(rows: rows, rowTokens: rowTokens, kept: kept, headDim: headDim,
                                      keys: keys, values: values, precision: precision, keyLeadTokens: keyLeadTokens)
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
    let rows: Int
    let tokens: Int
    let headDim: Int
    let elements: Int
    let keys: UnsafeMutableRawPointer
    let values: UnsafeMutableRawPointer
    /// int8 only: [rows][2][headDim] key scales (the lead group's, then the rest's), [rows][tokens]
    /// value scales and [rows][tokens] sums of each key's codes (the VNNI scores kernel's offset);
    /// allocated empty otherwise.
    let keyScales: UnsafeMutablePointer<Float>
    let valueScales: UnsafeMutablePointer<Float>
    let keySums: UnsafeMutablePointer<Int32>
    /// int8 only: tokens at the start of each row whose keys have the first scales.
    let keyLeadTokens: Int

    var kernelType: Int32 { precision.kernelType }
    var elementBytes: Int { precision.elementBytes }
    /// Key scales, and value scales (or key sums): how many of each.
    private var scaleCounts: (keys: Int, tokens: Int) { Self.scaleCounts(precision, rows: rows, tokens: tokens, headDim: headDim) }

    private static func scaleCounts(_ precision: MemorySegment.Precision, rows: Int, tokens: Int, headDim: Int) -> (keys: Int, tokens: Int) {
        precision == .int8 ? (rows * 2 * headDim, rows * tokens) : (0, 0)
    }

    private static func zeroed<T: Numeric>(_ count: Int) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: max(1, count))
        p.initialize(repeating: 0, count: max(1, count))
        return p
    }

    init(rows: Int, rowTokens: Int, kept: Range<Int>, headDim: Int, keys: [Float], values: [Float],
         precision: MemorySegment.Precision, keyLeadTokens: Int) {
        self.precision = precision
        self.rows = rows
        self.tokens = kept.count
        self.headDim = headDim
        let rowElements = kept.count * headDim
        elements = rows * rowElements
        let bytes = max(1, elements * precision.elementBytes)
        self.keys = .allocate(byteCount: bytes, alignment: 64)
        self.values = .allocate(byteCount: bytes, alignment: 64)
        self.keyLeadTokens = precision == .int8 ? keyLeadTokens : 0
        let counts = Self.scaleCounts(precision, rows: rows, tokens: kept.count, headDim: headDim)
        keyScales = Self.zeroed(counts.keys)
        valueScales = Self.zeroed(counts.tokens)
        keySums = Self.zeroed(counts.tokens)
        keys.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in
                for row in 0 ..< rows {
                    let offset = (row * rowTokens + kept.lowerBound) * headDim
                    let from = (k.baseAddress! + offset, v.baseAddress! + offset)
                    switch precision {
                    case .float32:
                        (self.keys.assumingMemoryBound(to: Float.self) + row * rowElements).update(from: from.0, count: rowElements)
                        (self.values.assumingMemoryBound(to: Float.self) + row * rowElements).update(from: from.1, count: rowElements)
                    case .float16:
                        m3_fp32_to_fp16(from.0, self.keys.assumingMemoryBound(to: UInt16.self) + row * rowElements, rowElements)
                        m3_fp32_to_fp16(from.1, self.values.assumingMemoryBound(to: UInt16.self) + row * rowElements, rowElements)
                    case .int8:
                        m3_quantize_keys_i8(from.0, Int32(kept.count), Int32(headDim), Int32(keyLeadTokens),
                                            self.keys.assumingMemoryBound(to: Int8.self) + row * rowElements,
                                            self.keyScales + row * 2 * headDim, self.keySums + row * kept.count)
                        m3_quantize_values_i8(from.1, Int32(kept.count), Int32(headDim),
                                              self.values.assumingMemoryBound(to: Int8.self) + row * rowElements,
                                              self.valueScales + row * kept.count)
                    }
                }
            }
        }
    }

    deinit {
        keys.deallocate()
        values.deallocate()
        keyScales.deallocate()
        valueScales.deallocate()
        keySums.deallocate()
    }

    /// The keys or values as floats (int8: codes times their scales).
    func floats(ofKeys: Bool) -> [Float] {
        let p = ofKeys ? keys : values
        switch precision {
        case .float32:
            return Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: elements))
        case .float16:
            return [Float](unsafeUninitializedCapacity: elements) { out, count in
                m3_fp16_to_fp32_row(p.assumingMemoryBound(to: UInt16.self), out.baseAddress!, elements)
                count = elements
            }
        case .int8:
            let codes = p.assumingMemoryBound(to: Int8.self)
            var out = [Float](repeating: 0, count: elements)
            for row in 0 ..< rows {
                for t in 0 ..< tokens {
                    for i in 0 ..< headDim {
                        let index = (row * tokens + t) * headDim + i
                        let scale = ofKeys ? keyScales[(row * 2 + (t < keyLeadTokens ? 0 : 1)) * headDim + i]
                                           : valueScales[row * tokens + t]
                        out[index] = Float(codes[index]) * scale
                    }
                }
            }
            return out
        }
    }

    func sameContents(as other: SegmentStorage) -> Bool {
        guard precision == other.precision, elements == other.elements, keyLeadTokens == other.keyLeadTokens,
              scaleCounts == other.scaleCounts else { return false }
        let bytes = elements * elementBytes
        return memcmp(keys, other.keys, bytes) == 0 && memcmp(values, other.values, bytes) == 0
            && memcmp(keyScales, other.keyScales, 4 * scaleCounts.keys) == 0
            && memcmp(valueScales, other.valueScales, 4 * scaleCounts.tokens) == 0
    }
}
