/// Records how much attention chosen query heads pay to each memory segment, per token of a
/// forward call. The retrieval-head calibration and the reranker of explicit memory read it.
public final class AttentionProbe: @unchecked Sendable {
    /// Layers and query heads to record (nil: all).
    public let layers: Set<Int>?
    public let heads: Set<Int>?
    private(set) var tokens = 0
    private(set) var segments = 0
    private var headCount = 0
    /// [layer * headCount + head] -> offset of that head's [tokens][segments] block in `storage`.
    private var offsets: [Int: Int] = [:]
    private var storage: [Float] = []

    public init(layers: Set<Int>? = nil, heads: Set<Int>? = nil) {
        self.layers = layers
        self.heads = heads
    }

    func records(layer: Int, head: Int) -> Bool {
        (layers?.contains(layer) ?? true) && (heads?.contains(head) ?? true)
    }

    /// Sizes the storage for a forward call of `tokens` tokens over `segments` memory segments;
    /// earlier results are dropped.
    public func begin(tokens: Int, segments: Int, config: DecoderConfig) {
        self.tokens = tokens
        self.segments = segments
        headCount = config.headCount
        offsets = [:]
        var next = 0
        for layer in 0 ..< config.layerCount {
            for head in 0 ..< config.headCount where records(layer: layer, head: head) {
                offsets[layer * headCount + head] = next
                next += tokens * segments
            }
        }
        storage = [Float](repeating: 0, count: next)
    }

    /// Where attention writes the mass of (layer, head, token) over the segments, or nil.
    func slot(layer: Int, head: Int, token: Int) -> Int? {
        offsets[layer * headCount + head].map { $0 + token * segments }
    }

    func store(_ value: Float, at index: Int) {
        storage.withUnsafeMutableBufferPointer { $0[index] = value }
    }

    /// Attention mass on each segment, per token: [tokens][segments]; nil when not recorded.
    public func mass(layer: Int, head: Int) -> [[Float]]? {
        guard let offset = offsets[layer * headCount + head] else { return nil }
        return (0 ..< tokens).map { t in Array(storage[offset + t * segments ..< offset + (t + 1) * segments]) }
    }

    /// Attention mass on each segment averaged over the call's tokens; nil when not recorded.
    public func meanMass(layer: Int, head: Int) -> [Float]? {
        guard let rows = mass(layer: layer, head: head), !rows.isEmpty else { return nil }
        var mean = [Float](repeating: 0, count: segments)
        for row in rows { for s in 0 ..< segments { mean[s] += row[s] } }
        return mean.map { $0 / Float(rows.count) }
    }
}
