import Foundation

/// Product-quantization codebooks, for measuring (`memory3 scorer-fitness --codebooks`): for every
/// (layer, KV head) row, for keys and for values, and for every group of `channels` adjacent
/// dimensions, `2^bits` centroids. A vector's group would be stored as the index of its nearest
/// centroid: `bits / channels` bits a value and no per-group scale or minimum (coupled
/// quantization, arXiv 2405.03917). `scripts/fit-kv-codebooks.py` fits them by k-means on the key/
/// values of generated references. Not a stored codec: it answered whether vector codes hold where
/// scalar codes do not (they do not for keys: docs/memory-quality.md), so a memory is only rebuilt
/// from its codes in memory here.
public struct ProductCodebooks: Sendable {
    /// How keys are coded: as they are, less their mean over the memory's tokens (per row and
    /// channel), or also divided by their deviation there (means and deviations stored at fp16).
    public enum KeyForm: String, Sendable { case plain, centered, standardized }

    /// Which of a memory's tensors go through the codebooks (the other stays exact).
    public enum Sides: String, Sendable, CaseIterable { case both, keys, values }

    public let rows: Int
    public let headDim: Int
    public let channels: Int
    public let bits: Int
    public let keyForm: KeyForm
    /// [rows][keys, values][groups][2^bits][channels].
    public let centroids: [Float]

    public var groups: Int { headDim / channels }
    public var entries: Int { 1 << bits }

    public init(rows: Int, headDim: Int, channels: Int, bits: Int, keyForm: KeyForm = .plain, centroids: [Float]) throws {
        guard rows >= 1, channels >= 1, headDim % channels == 0, (1 ... 16).contains(bits),
              centroids.count == rows * 2 * (headDim / channels) * (1 << bits) * channels else {
            throw MemoryCodecError.invalidMemory("\(centroids.count) centroid floats do not make \(rows) rows x 2 x \(headDim)/\(channels) groups x 2^\(bits) entries x \(channels)")
        }
        self.rows = rows
        self.headDim = headDim
        self.channels = channels
        self.bits = bits
        self.keyForm = keyForm
        self.centroids = centroids
    }

    /// Reads `path` (float32, little-endian) and its shape from `path.json` ({"rows", "head_dim",
    /// "channels", "bits", "keys"}, as the fitting script writes them).
    public init(path: String) throws {
        struct Shape: Decodable { let rows: Int; let head_dim: Int; let channels: Int; let bits: Int; let keys: String? }
        let shape = try JSONDecoder().decode(Shape.self, from: Data(contentsOf: URL(fileURLWithPath: path + ".json")))
        guard let keyForm = KeyForm(rawValue: shape.keys ?? "plain") else {
            throw MemoryCodecError.invalidMemory("\(path).json: unknown key form \(shape.keys ?? "")")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try self.init(rows: shape.rows, headDim: shape.head_dim, channels: shape.channels, bits: shape.bits, keyForm: keyForm,
                      centroids: data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
    }

    /// Bytes a memory of `vectors` (row, token) vectors would take: key and value codes, and the
    /// key form's per-channel statistics.
    public func codeBytes(vectors: Int) -> Int {
        let statisticsPerChannel: Int
        switch keyForm {
        case .plain: statisticsPerChannel = 0
        case .centered: statisticsPerChannel = 2
        case .standardized: statisticsPerChannel = 4
        }
        return 2 * ((vectors * groups * bits + 7) / 8) + statisticsPerChannel * rows * headDim
    }

    /// `memory` with its key and/or value groups replaced by their nearest centroids.
    public func reconstruct(_ memory: EncodedMemory, sides: Sides = .both) throws -> EncodedMemory {
        guard memory.rowCount == rows, memory.headDim == headDim else {
            throw MemoryCodecError.invalidMemory("codebooks are for \(rows) rows of \(headDim) dims, the memory has \(memory.rowCount) of \(memory.headDim)")
        }
        var copy = memory
        if sides != .values { copy.keys = codedKeys(memory.keys, tokens: memory.tokenCount) }
        if sides != .keys { copy.values = nearest(memory.values, tokens: memory.tokenCount, values: true) }
        return copy
    }

    /// Keys through the codebooks in the key form: less each (row, channel)'s mean over the
    /// memory's tokens and over its deviation where the form says, both rounded to fp16.
    private func codedKeys(_ keys: [Float], tokens: Int) -> [Float] {
        guard keyForm != .plain, tokens > 0 else { return nearest(keys, tokens: tokens, values: false) }
        var mean = [Float](repeating: 0, count: rows * headDim)
        var deviation = [Float](repeating: 1, count: rows * headDim)
        var normalised = keys
        for r in 0 ..< rows {
            for d in 0 ..< headDim {
                let at = { (t: Int) in (r * tokens + t) * self.headDim + d }
                var sum: Float = 0
                for t in 0 ..< tokens { sum += keys[at(t)] }
                let m = Float(Float16(sum / Float(tokens)))
                mean[r * headDim + d] = m
                if keyForm == .standardized {
                    var squares: Float = 0
                    for t in 0 ..< tokens { squares += (keys[at(t)] - m) * (keys[at(t)] - m) }
                    let s = Float(Float16((squares / Float(tokens)).squareRoot()))
                    if s > 0 { deviation[r * headDim + d] = s }
                }
                for t in 0 ..< tokens { normalised[at(t)] = (keys[at(t)] - m) / deviation[r * headDim + d] }
            }
        }
        var coded = nearest(normalised, tokens: tokens, values: false)
        for i in coded.indices {
            let channel = (i / (tokens * headDim)) * headDim + i % headDim
            coded[i] = coded[i] * deviation[channel] + mean[channel]
        }
        return coded
    }

    /// Every group of every vector of `x` ([rows][tokens][headDim]) replaced by its nearest centroid.
    private func nearest(_ x: [Float], tokens: Int, values: Bool) -> [Float] {
        var out = x
        centroids.withUnsafeBufferPointer { c in
            for row in 0 ..< rows {
                for g in 0 ..< groups {
                    let book = c.baseAddress! + (((row * 2 + (values ? 1 : 0)) * groups + g) * entries) * channels
                    for t in 0 ..< tokens {
                        let at = (row * tokens + t) * headDim + g * channels
                        var best = 0, bestDistance = Float.infinity
                        for e in 0 ..< entries {
                            var d: Float = 0
                            for j in 0 ..< channels { let u = x[at + j] - book[e * channels + j]; d += u * u }
                            if d < bestDistance { bestDistance = d; best = e }
                        }
                        for j in 0 ..< channels { out[at + j] = book[best * channels + j] }
                    }
                }
            }
        }
        return out
    }
}
