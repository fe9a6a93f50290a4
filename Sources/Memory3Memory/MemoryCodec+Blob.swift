/// A memory read back from a blob, with the header it was stored under.
public struct DecodedMemory: Sendable, Equatable {
    public let header: MemoryBlobHeader
    public let memory: EncodedMemory
}

extension MemoryCodec {
    /// zlib level for blobs.
    public static let defaultCompressionLevel: Int32 = 6

    /// The blob for `memory`: header, then the zlib-compressed payload (positions, keys, values).
    /// `profile` is the `MemoryProfile` name, `fingerprint` the writing model's `ModelFingerprint`.
    /// `int8KeyLayers`: layers whose keys a low-bit codec also stores at int8 (read back in place
    /// of their low-bit keys), those of the model's retrieval head: its rerank weighs memories by
    /// attention over their keys, and 3-bit rotated keys cost it a quarter of its picks on our
    /// calibration set (docs/memory-quality.md). Layers the memory lacks are skipped, and fp16
    /// and int8 memories store none (their keys are already that exact).
    public func encode(_ memory: EncodedMemory, profile: String, fingerprint: String, int8KeyLayers: [Int] = [],
                       compressionLevel: Int32 = MemoryCodec.defaultCompressionLevel) throws -> [UInt8] {
        typealias H = MemoryBlobHeader
        guard memory.layers.count <= H.maxLayers, memory.kvHeadCount <= H.maxHeads, memory.headDim <= H.maxHeadDim,
              memory.tokenCount <= H.maxTokens, (memory.layers.last ?? 0) < H.maxLayers else {
            throw MemoryCodecError.tooLarge("\(memory.layers.count) layers x \(memory.kvHeadCount) heads x \(memory.tokenCount) tokens x \(memory.headDim) dims")
        }
        guard profile.utf8.count <= H.maxProfileLength, fingerprint.utf8.count <= H.maxFingerprintLength else {
            throw MemoryCodecError.tooLarge("profile or fingerprint string")
        }
        guard memory.kvHeadCount >= 1, memory.headDim >= 1, zip(memory.layers, memory.layers.dropFirst()).allSatisfy({ $0 < $1 }),
              memory.layers.allSatisfy({ $0 >= 0 }) else {
            throw MemoryCodecError.invalidMemory("layers must be ascending, unique and >= 0, with >= 1 head and dimension")
        }
        guard memory.keys.allSatisfy(\.isFinite), memory.values.allSatisfy(\.isFinite) else {
            throw MemoryCodecError.nonFiniteValue
        }
        let shape = KVQuantization.Shape(rows: memory.rowCount, tokens: memory.tokenCount, headDim: memory.headDim,
                                         keyLeadGroup: prefixKeyGroup ? memory.prefixTokenCount : 0,
                                         groupSize: groupSize, levels: levels)
        let exactLayers = lowBits == nil ? [] : Array(Set(int8KeyLayers.filter(memory.layers.contains))).sorted()
        guard exactLayers.count <= H.maxInt8KeyLayers else { throw MemoryCodecError.tooLarge("\(exactLayers.count) int8-key layers") }
        // One layer's rows: every KV head of it, contiguous (rows are layer-major).
        let layerShape = KVQuantization.Shape(rows: memory.kvHeadCount, tokens: memory.tokenCount, headDim: memory.headDim)
        let size = payloadSize(rows: shape.rows, tokens: shape.tokens, headDim: shape.headDim, prefix: memory.prefixTokenCount,
                               int8KeyRows: exactLayers.count * memory.kvHeadCount)
        guard size <= H.maxPayloadBytes else { throw MemoryCodecError.tooLarge("\(size) bytes of payload") }

        var payload = [UInt8](repeating: 0, count: size)
        payload.withUnsafeMutableBytes { raw in
            guard let out = raw.baseAddress else { return }
            var offset = 0
            for (i, p) in memory.positions.enumerated() {
                out.storeBytes(of: p.littleEndian, toByteOffset: 4 * i, as: Int32.self)
            }
            offset += 4 * memory.positions.count
            var keys = memory.keys, values = memory.values
            if rotated {
                HadamardRotation.rotate(&keys, count: shape.rows * shape.tokens, dim: shape.headDim)
                HadamardRotation.rotate(&values, count: shape.rows * shape.tokens, dim: shape.headDim)
            }
            keys.withUnsafeBufferPointer { k in
                values.withUnsafeBufferPointer { v in
                    guard let k = k.baseAddress, let v = v.baseAddress else { return }
                    switch self {
                    case .fp16:
                        offset += KVQuantization.encodeHalf(k, count: shape.elements, into: out + offset)
                        offset += KVQuantization.encodeHalf(v, count: shape.elements, into: out + offset)
                    case .int8:
                        offset += KVQuantization.encodeInt8Keys(k, shape, into: out + offset)
                        offset += KVQuantization.encodeInt8Values(v, shape, into: out + offset)
                    case .int4, .int3, .int2, .int3r, .int2r:
                        offset += KVQuantization.encodeLowBitKeys(k, shape, bits: lowBits!, into: out + offset)
                        offset += KVQuantization.encodeLowBitValues(v, shape, bits: lowBits!, into: out + offset)
                    }
                }
            }
            memory.keys.withUnsafeBufferPointer { k in
                guard let k = k.baseAddress else { return }
                for layer in exactLayers {
                    let row = memory.layers.firstIndex(of: layer)! * memory.kvHeadCount
                    offset += KVQuantization.encodeInt8Keys(k + row * shape.tokens * shape.headDim, layerShape, into: out + offset)
                }
            }
            precondition(offset == size || shape.elements == 0, "payload layout disagrees with payloadSize")
        }
        let compressed = try Zlib.compress(payload, level: compressionLevel)
        let header = MemoryBlobHeader(
            version: MemoryBlobHeader.version(int8KeyLayers: exactLayers), codec: self, profile: profile, fingerprint: fingerprint,
            layers: memory.layers, kvHeadCount: memory.kvHeadCount, headDim: memory.headDim,
            tokenCount: memory.tokenCount, prefixTokenCount: memory.prefixTokenCount,
            uncompressedSize: size, compressedSize: compressed.count, payloadCRC: Zlib.crc32(compressed),
            int8KeyLayers: exactLayers)
        return header.serialized() + compressed
    }

    /// Reads a blob written by `encode`. With `expectedFingerprint`, a memory written by another
    /// model is refused (`modelMismatch`). Every damaged or truncated blob throws a
    /// `MemoryCodecError`.
    public static func decode(_ blob: [UInt8], expectedFingerprint: String?) throws -> DecodedMemory {
        let (header, payloadOffset) = try MemoryBlobHeader.parse(blob)
        if let expected = expectedFingerprint, expected != header.fingerprint {
            throw MemoryCodecError.modelMismatch(expected: expected, found: header.fingerprint)
        }
        let available = blob.count - payloadOffset
        guard available >= header.compressedSize else {
            throw MemoryCodecError.truncated(needed: payloadOffset + header.compressedSize, available: blob.count)
        }
        guard available == header.compressedSize else {
            throw MemoryCodecError.corrupt("\(available - header.compressedSize) bytes after the payload")
        }
        guard Zlib.crc32(blob, range: payloadOffset ..< blob.count) == header.payloadCRC else {
            throw MemoryCodecError.checksumMismatch("payload")
        }
        let payload = try Zlib.decompress(blob, range: payloadOffset ..< blob.count, size: header.uncompressedSize)

        let codec = header.codec
        let shape = KVQuantization.Shape(rows: header.rowCount, tokens: header.tokenCount, headDim: header.headDim,
                                         keyLeadGroup: codec.prefixKeyGroup ? header.prefixTokenCount : 0,
                                         groupSize: codec.groupSize, levels: codec.levels)
        var positions = [Int32](repeating: 0, count: shape.rows * shape.tokens)
        var keys = [Float](repeating: 0, count: shape.elements)
        var values = [Float](repeating: 0, count: shape.elements)
        payload.withUnsafeBytes { raw in
            guard let p = raw.baseAddress else { return }
            for i in positions.indices {
                positions[i] = Int32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
            }
            var offset = 4 * positions.count
            keys.withUnsafeMutableBufferPointer { k in
                values.withUnsafeMutableBufferPointer { v in
                    guard let k = k.baseAddress, let v = v.baseAddress else { return }
                    switch header.codec {
                    case .fp16:
                        offset += KVQuantization.decodeHalf(p + offset, count: shape.elements, into: k)
                        offset += KVQuantization.decodeHalf(p + offset, count: shape.elements, into: v)
                    case .int8:
                        offset += KVQuantization.decodeInt8Keys(p + offset, shape, into: k)
                        offset += KVQuantization.decodeInt8Values(p + offset, shape, into: v)
                    case .int4, .int3, .int2, .int3r, .int2r:
                        let bits = codec.lowBits!
                        offset += KVQuantization.decodeLowBitKeys(p + offset, shape, bits: bits, into: k)
                        offset += KVQuantization.decodeLowBitValues(p + offset, shape, bits: bits, into: v)
                    }
                    if codec.rotated {
                        HadamardRotation.unrotate(k, count: shape.rows * shape.tokens, dim: shape.headDim)
                        HadamardRotation.unrotate(v, count: shape.rows * shape.tokens, dim: shape.headDim)
                    }
                    let layerShape = KVQuantization.Shape(rows: header.kvHeadCount, tokens: shape.tokens, headDim: shape.headDim)
                    for layer in header.int8KeyLayers {
                        let row = header.layers.firstIndex(of: layer)! * header.kvHeadCount
                        offset += KVQuantization.decodeInt8Keys(p + offset, layerShape, into: k + row * shape.tokens * shape.headDim)
                    }
                }
            }
        }
        let memory = EncodedMemory(
            layers: header.layers, kvHeadCount: header.kvHeadCount, headDim: header.headDim,
            tokenCount: header.tokenCount, prefixTokenCount: header.prefixTokenCount,
            positions: positions, keys: keys, values: values)
        return DecodedMemory(header: header, memory: memory)
    }
}
