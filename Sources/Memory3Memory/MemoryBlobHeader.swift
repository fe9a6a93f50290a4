/// The versioned header in front of every stored memory: what wrote it (model fingerprint,
/// profile), how (codec), the shapes, and checksums. Layout, little-endian:
///
///     magic "M3KV" | version u16 | codec u8 | int8-key layer count u8 | profile (u16 length,
///     UTF-8) | fingerprint (u16 length, UTF-8) | layer count u32 | layers u32... | kv heads u32
///     | head dim u32 | tokens u32 | prefix tokens u32 | int8-key layers u32... | uncompressed
///     size u64 | compressed size u64 | payload CRC-32 u32 | header CRC-32 u32
///
/// The int8-key layer count was a reserved zero byte in version 1, before int8-key layers
/// existed. A blob with int8-key layers is version 2, so that a build that reads only version 1
/// says so ("unsupported version") instead of misreading it; one without them is still written as
/// version 1, byte for byte as before, so older builds (replicas, a rollback) read it.
///
/// then exactly `compressedSize` bytes of zlib data. The header CRC covers every header byte
/// before it; the payload CRC covers the compressed payload (checked before inflating; zlib's
/// own Adler-32 then covers the inflated bytes), so any changed byte is caught.
public struct MemoryBlobHeader: Sendable, Equatable {
    public static let magic: [UInt8] = Array("M3KV".utf8)
    /// The newest version this build writes and reads (it reads every version from 1).
    public static let currentVersion: UInt16 = 2
    /// The version a blob is written as: 1 unless it has int8-key layers.
    static func version(int8KeyLayers: [Int]) -> UInt16 { int8KeyLayers.isEmpty ? 1 : 2 }

    public var version: UInt16
    public var codec: MemoryCodec
    /// The `MemoryProfile` name the memory was encoded with.
    public var profile: String
    /// `ModelFingerprint` of the model that wrote the memory.
    public var fingerprint: String
    public var layers: [Int]
    public var kvHeadCount: Int
    public var headDim: Int
    public var tokenCount: Int
    public var prefixTokenCount: Int
    public var uncompressedSize: Int
    public var compressedSize: Int
    /// CRC-32 of the compressed payload.
    public var payloadCRC: UInt32
    /// Layers (of `layers`, ascending) whose keys a low-bit memory also stores at int8, after the
    /// values (`MemoryCodec.encode(_:int8KeyLayers:)`): the retrieval head's layer, so that the
    /// rerank reads its keys as it would in an int8 memory. Empty for most memories.
    public var int8KeyLayers: [Int] = []

    /// Limits that keep a damaged header from asking for absurd allocations.
    static let maxLayers = 4096
    static let maxHeads = 1024
    static let maxHeadDim = 4096
    static let maxTokens = 1 << 20
    static let maxPayloadBytes = 1 << 32
    static let maxProfileLength = 1024
    static let maxFingerprintLength = 256
    static let maxInt8KeyLayers = 255

    var rowCount: Int { layers.count * kvHeadCount }

    func serialized() -> [UInt8] {
        var w = BlobWriter(capacity: 96 + profile.utf8.count + fingerprint.utf8.count + 4 * (layers.count + int8KeyLayers.count))
        w.bytes.append(contentsOf: Self.magic)
        w.write(version)
        w.write(codec.id)
        w.write(UInt8(int8KeyLayers.count))
        w.writeString(profile)
        w.writeString(fingerprint)
        w.write(UInt32(layers.count))
        for layer in layers { w.write(UInt32(layer)) }
        w.write(UInt32(kvHeadCount))
        w.write(UInt32(headDim))
        w.write(UInt32(tokenCount))
        w.write(UInt32(prefixTokenCount))
        for layer in int8KeyLayers { w.write(UInt32(layer)) }
        w.write(UInt64(uncompressedSize))
        w.write(UInt64(compressedSize))
        w.write(payloadCRC)
        w.write(Zlib.crc32(w.bytes))
        return w.bytes
    }

    /// Reads and verifies the header at the start of `blob` (magic, version, header checksum,
    /// shape limits and sizes). Returns the header and where the compressed payload starts.
    /// Cheap: nothing is inflated.
    public static func parse(_ blob: [UInt8]) throws -> (header: MemoryBlobHeader, payloadOffset: Int) {
        guard blob.count >= magic.count else { throw MemoryCodecError.truncated(needed: magic.count, available: blob.count) }
        guard Array(blob[0 ..< magic.count]) == magic else { throw MemoryCodecError.notAMemoryBlob }
        var r = BlobReader(blob, position: magic.count)
        let version = try r.read(UInt16.self)
        guard (1 ... currentVersion).contains(version) else {
            throw MemoryCodecError.unsupportedVersion(version, supported: currentVersion)
        }
        let codecId = try r.read(UInt8.self)
        let int8KeyLayerCount = Int(try r.read(UInt8.self))
        guard version >= 2 || int8KeyLayerCount == 0 else { throw MemoryCodecError.corrupt("a version 1 header with int8-key layers") }
        let profile = try r.readString(maxLength: maxProfileLength)
        let fingerprint = try r.readString(maxLength: maxFingerprintLength)
        let layerCount = Int(try r.read(UInt32.self))
        guard layerCount <= maxLayers else { throw MemoryCodecError.corrupt("\(layerCount) layers") }
        var layers: [Int] = []
        layers.reserveCapacity(layerCount)
        for _ in 0 ..< layerCount { layers.append(Int(try r.read(UInt32.self))) }
        let kvHeads = Int(try r.read(UInt32.self))
        let headDim = Int(try r.read(UInt32.self))
        let tokens = Int(try r.read(UInt32.self))
        let prefix = Int(try r.read(UInt32.self))
        var int8KeyLayers: [Int] = []
        for _ in 0 ..< int8KeyLayerCount { int8KeyLayers.append(Int(try r.read(UInt32.self))) }
        let uncompressed = try r.read(UInt64.self)
        let compressed = try r.read(UInt64.self)
        let payloadCRC = try r.read(UInt32.self)
        let headerEnd = r.position
        let storedCRC = try r.read(UInt32.self)
        guard storedCRC == Zlib.crc32(blob, range: 0 ..< headerEnd) else { throw MemoryCodecError.checksumMismatch("header") }

        // The checksum passed: what follows catches writers that got it wrong, and crafted blobs.
        guard let codec = MemoryCodec(id: codecId) else { throw MemoryCodecError.corrupt("unknown codec id \(codecId)") }
        guard zip(layers, layers.dropFirst()).allSatisfy({ $0 < $1 }), (layers.last ?? 0) < maxLayers else {
            throw MemoryCodecError.corrupt("layers are not ascending and unique")
        }
        guard kvHeads >= 1, kvHeads <= maxHeads, headDim >= 1, headDim <= maxHeadDim, tokens <= maxTokens, prefix <= tokens else {
            throw MemoryCodecError.corrupt("impossible shape (\(kvHeads) heads, \(headDim) dims, \(tokens) tokens, prefix \(prefix))")
        }
        guard int8KeyLayers.isEmpty || (codec.lowBits != nil && zip(int8KeyLayers, int8KeyLayers.dropFirst()).allSatisfy({ $0 < $1 })
                                        && int8KeyLayers.allSatisfy(layers.contains)) else {
            throw MemoryCodecError.corrupt("int8-key layers \(int8KeyLayers) are not ascending layers of a low-bit memory")
        }
        let rows = layerCount * kvHeads
        let expected = codec.payloadSize(rows: rows, tokens: tokens, headDim: headDim, prefix: Int(prefix),
                                         int8KeyRows: int8KeyLayers.count * kvHeads)
        guard expected <= maxPayloadBytes else { throw MemoryCodecError.tooLarge("\(expected) bytes of payload") }
        guard uncompressed == UInt64(expected) else {
            throw MemoryCodecError.corrupt("payload size \(uncompressed) does not match the shapes (\(expected))")
        }
        guard compressed <= UInt64(maxPayloadBytes) else { throw MemoryCodecError.corrupt("compressed size \(compressed)") }
        let header = MemoryBlobHeader(
            version: version, codec: codec, profile: profile, fingerprint: fingerprint, layers: layers,
            kvHeadCount: kvHeads, headDim: headDim, tokenCount: tokens, prefixTokenCount: prefix,
            uncompressedSize: expected, compressedSize: Int(compressed), payloadCRC: payloadCRC, int8KeyLayers: int8KeyLayers)
        return (header, r.position)
    }
}
