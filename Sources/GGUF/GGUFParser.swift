/// Parses and validates the header, metadata and tensor infos of a GGUF image.
enum GGUFParser {
    static let magic: UInt32 = 0x4655_4747  // "GGUF" read as little-endian
    static let defaultAlignment = 32
    /// Guards against absurd nesting or counts in corrupt files.
    static let maxArrayDepth = 4
    static let maxDimensions = 4

    struct Parsed {
        var version: UInt32
        var metadata: [String: GGUFValue]
        var metadataKeys: [String]
        var tensors: [GGUFTensorInfo]
        var alignment: Int
        var dataOffset: Int
    }

    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> Parsed {
        var reader = ByteReader(bytes)
        let found = try reader.read(UInt32.self)
        guard found == magic else { throw GGUFError.badMagic(found: found) }
        let version = try reader.read(UInt32.self)
        guard version == 2 || version == 3 else { throw GGUFError.unsupportedVersion(version) }
        // Minimum sizes: a tensor info is at least 8+4+8+4+8 bytes, a key-value at least 8+4+1.
        let tensorCount = try reader.readCount("tensor", minBytesEach: 32)
        let keyCount = try reader.readCount("metadata key", minBytesEach: 13)

        var metadata: [String: GGUFValue] = [:]
        var keys: [String] = []
        keys.reserveCapacity(keyCount)
        for _ in 0 ..< keyCount {
            let key = try reader.readString()
            let rawType = try reader.read(UInt32.self)
            guard let kind = GGUFValue.Kind(rawValue: rawType) else {
                throw GGUFError.unknownValueType(rawType, key: key)
            }
            let value = try readValue(kind, key: key, reader: &reader, depth: 0)
            guard metadata[key] == nil else { throw GGUFError.duplicateKey(key) }
            metadata[key] = value
            keys.append(key)
        }

        var alignment = defaultAlignment
        if let a = metadata["general.alignment"] {
            guard let v = a.intValue, v > 0, v & (v - 1) == 0 else {
                throw GGUFError.badAlignment(a.intValue ?? -1)
            }
            alignment = v
        }

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(tensorCount)
        var seen = Set<String>()
        for _ in 0 ..< tensorCount {
            let name = try reader.readString()
            let dimensionCount = Int(try reader.read(UInt32.self))
            guard dimensionCount >= 1, dimensionCount <= maxDimensions else {
                throw GGUFError.badTensorShape(tensor: name, dimensions: [dimensionCount])
            }
            var dims: [Int] = []
            for _ in 0 ..< dimensionCount {
                let d = try reader.read(UInt64.self)
                guard d > 0, d < (1 << 40) else { throw GGUFError.badTensorShape(tensor: name, dimensions: dims + [Int(truncatingIfNeeded: d)]) }
                dims.append(Int(d))
            }
            let rawType = try reader.read(UInt32.self)
            guard let type = GGMLType(rawValue: rawType) else { throw GGUFError.unknownTensorType(rawType, tensor: name) }
            let offset = try reader.read(UInt64.self)
            let (elements, overflow) = dims.reduce((1, false)) { acc, d in
                let (p, o) = acc.0.multipliedReportingOverflow(by: d)
                return (p, acc.1 || o)
            }
            guard !overflow, dims[0] % type.blockSize == 0, type.byteCount(elements: elements) != nil else {
                throw GGUFError.badTensorShape(tensor: name, dimensions: dims)
            }
            guard offset % UInt64(alignment) == 0 else {
                throw GGUFError.misalignedTensor(tensor: name, offset: offset, alignment: alignment)
            }
            guard offset < UInt64(bytes.count) else {
                throw GGUFError.tensorOutOfRange(tensor: name, end: Int(truncatingIfNeeded: offset), fileSize: bytes.count)
            }
            guard seen.insert(name).inserted else { throw GGUFError.duplicateTensor(name) }
            tensors.append(GGUFTensorInfo(name: name, dimensions: dims, type: type, offset: Int(offset)))
        }

        let dataOffset = (reader.offset + alignment - 1) / alignment * alignment
        for t in tensors {
            // A corrupt shape can make the size alone overflow an Int; that is out of range too.
            let (end, overflow) = (dataOffset + t.offset).addingReportingOverflow(t.byteCount)
            guard !overflow, end <= bytes.count else {
                throw GGUFError.tensorOutOfRange(tensor: t.name, end: overflow ? Int.max : end, fileSize: bytes.count)
            }
        }
        return Parsed(version: version, metadata: metadata, metadataKeys: keys, tensors: tensors,
                      alignment: alignment, dataOffset: dataOffset)
    }

    private static func readValue(_ kind: GGUFValue.Kind, key: String, reader: inout ByteReader, depth: Int) throws -> GGUFValue {
        switch kind {
        case .uint8: return .uint8(try reader.read(UInt8.self))
        case .int8: return .int8(try reader.read(Int8.self))
        case .uint16: return .uint16(try reader.read(UInt16.self))
        case .int16: return .int16(try reader.read(Int16.self))
        case .uint32: return .uint32(try reader.read(UInt32.self))
        case .int32: return .int32(try reader.read(Int32.self))
        case .float32: return .float32(try reader.readFloat())
        case .bool:
            let b = try reader.read(UInt8.self)
            return .bool(b != 0)
        case .string: return .string(try reader.readString())
        case .uint64: return .uint64(try reader.read(UInt64.self))
        case .int64: return .int64(try reader.read(Int64.self))
        case .float64: return .float64(try reader.readDouble())
        case .array:
            let rawType = try reader.read(UInt32.self)
            guard let elementKind = GGUFValue.Kind(rawValue: rawType) else {
                throw GGUFError.unknownValueType(rawType, key: key)
            }
            guard depth < maxArrayDepth else {
                throw GGUFError.tooLarge(what: "nested array depth of '\(key)'", count: UInt64(depth + 1))
            }
            let count = try reader.readCount("array element", minBytesEach: elementSize(elementKind))
            var values: [GGUFValue] = []
            values.reserveCapacity(count)
            for _ in 0 ..< count {
                values.append(try readValue(elementKind, key: key, reader: &reader, depth: depth + 1))
            }
            return .array(values)
        }
    }

    /// The least number of bytes one element of a kind can occupy.
    private static func elementSize(_ kind: GGUFValue.Kind) -> Int {
        switch kind {
        case .uint8, .int8, .bool: return 1
        case .uint16, .int16: return 2
        case .uint32, .int32, .float32: return 4
        case .uint64, .int64, .float64, .string: return 8
        case .array: return 12
        }
    }
}
