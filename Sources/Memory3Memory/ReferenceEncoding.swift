import MemoryStore

/// Turns one reference's text into the memories stored for it (one per profile). The model does
/// it in `ModelReferenceEncoding`; tests can stand in a slow or failing one.
public protocol ReferenceEncoding: Sendable {
    /// The memories of one reference and how many tokens the model ran for them.
    func memories(for text: String) throws -> (memories: [NewMemory], modelTokens: Int)
}

/// The model encodes (`MemoryEncoder`, one forward pass) and the codec compresses.
public struct ModelReferenceEncoding: ReferenceEncoding {
    public let encoder: MemoryEncoder
    public let codec: MemoryCodec
    /// Fingerprint of the encoder's model, written into every memory.
    public let fingerprint: String
    public let compressionLevel: Int32
    /// Layers whose keys a low-bit memory also keeps at int8 (the retrieval head's).
    public let int8KeyLayers: [Int]

    public init(encoder: MemoryEncoder, codec: MemoryCodec = .default, fingerprint: String, int8KeyLayers: [Int] = [],
                compressionLevel: Int32 = MemoryCodec.defaultCompressionLevel) {
        self.encoder = encoder
        self.codec = codec
        self.fingerprint = fingerprint
        self.int8KeyLayers = int8KeyLayers
        self.compressionLevel = compressionLevel
    }

    public func memories(for text: String) throws -> (memories: [NewMemory], modelTokens: Int) {
        let body = encoder.bodyTokens(text)
        let memory = try encoder.encode(bodyTokens: body)
        let profile = encoder.profile.name
        let blob = try codec.encode(memory, profile: profile, fingerprint: fingerprint, int8KeyLayers: int8KeyLayers,
                                    compressionLevel: compressionLevel)
        return ([NewMemory(profile: profile, codec: codec.name, blob: blob)], encoder.prefixTokens.count + body.count)
    }
}
