#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Builds a GGUF file (version 2 or 3; both share one layout) in memory: header, metadata in
/// insertion order, tensor infos, padding, then each tensor's data at an offset aligned to
/// `alignment`, padded after, as llama.cpp lays files out. Tests and tools use it to make small
/// model files. Misuse (a malformed tensor, a mixed-type array) is a precondition failure.
///
/// `general.alignment` is written, first, when `alignment` is not GGUF's default of 32. Setting
/// that key by hand replaces its value but not the layout: tests use that to write corrupt files.
public struct GGUFWriter: Sendable {
    public let version: UInt32
    public let alignment: Int
    private var keys: [String] = []
    private var values: [String: GGUFValue] = [:]
    private var tensors: [Tensor] = []
    private var tensorNames: Set<String> = []

    private struct Tensor: Sendable {
        let name: String
        let dimensions: [Int]
        let type: GGMLType
        let data: [UInt8]
    }

    public init(version: UInt32 = 3, alignment: Int = 32) {
        precondition(version == 2 || version == 3, "GGUFWriter writes GGUF versions 2 and 3")
        precondition(alignment > 0 && alignment & (alignment - 1) == 0, "alignment must be a positive power of two")
        self.version = version
        self.alignment = alignment
        if alignment != GGUFParser.defaultAlignment { set("general.alignment", .uint32(UInt32(alignment))) }
    }

    /// Sets a metadata value. A new key goes after the others; an existing key keeps its place.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if values.updateValue(value, forKey: key) == nil { keys.append(key) }
    }

    /// Adds a tensor of raw GGML bytes. `dimensions` are GGML's `ne`, innermost first.
    public mutating func addTensor(name: String, dimensions: [Int], type: GGMLType, data: [UInt8]) {
        precondition(tensorNames.insert(name).inserted, "tensor '\(name)' added twice")
        precondition((1 ... GGUFParser.maxDimensions).contains(dimensions.count) && dimensions.allSatisfy { $0 > 0 },
                     "tensor '\(name)' needs 1 to \(GGUFParser.maxDimensions) positive dimensions")
        precondition(dimensions[0] % type.blockSize == 0,
                     "tensor '\(name)': innermost dimension is not a multiple of the \(type.name) block size")
        let expected = type.byteCount(elements: dimensions.reduce(1, *))
        precondition(expected == data.count, "tensor '\(name)': \(data.count) bytes, expected \(expected ?? -1)")
        tensors.append(Tensor(name: name, dimensions: dimensions, type: type, data: data))
    }

    /// Adds an F32 tensor.
    public mutating func addTensor(name: String, dimensions: [Int], floats: [Float]) {
        addTensor(name: name, dimensions: dimensions, type: .f32, data: Quantize.blocks(floats, as: .f32))
    }

    /// The whole file.
    public func bytes() -> [UInt8] {
        var out = ByteWriter()
        out.write(GGUFParser.magic)
        out.write(version)
        out.write(UInt64(tensors.count))
        out.write(UInt64(keys.count))
        for key in keys {
            let value = values[key]!
            out.writeString(key)
            out.write(value.kind.rawValue)
            Self.writePayload(of: value, to: &out)
        }
        var offset = 0
        for tensor in tensors {
            out.writeString(tensor.name)
            out.write(UInt32(tensor.dimensions.count))
            for d in tensor.dimensions { out.write(UInt64(d)) }
            out.write(tensor.type.rawValue)
            out.write(UInt64(offset))
            offset = (offset + tensor.data.count + alignment - 1) / alignment * alignment
        }
        out.pad(to: alignment)
        for tensor in tensors {
            out.bytes.append(contentsOf: tensor.data)
            out.pad(to: alignment)
        }
        return out.bytes
    }

    /// Writes the file to `path`, replacing any file there.
    public func write(to path: String) throws {
        guard let file = fopen(path, "wb") else {
            throw GGUFError.cannotWrite(path: path, reason: String(cString: strerror(errno)))
        }
        let data = bytes()
        let written = data.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        let failure = written == data.count ? nil : String(cString: strerror(errno))
        guard fclose(file) == 0, failure == nil else {
            throw GGUFError.cannotWrite(path: path, reason: failure ?? String(cString: strerror(errno)))
        }
    }

    /// A value without its type id. An array's elements share one type, taken from the first
    /// element (UInt8 for an empty array); nested arrays carry their own element types.
    private static func writePayload(of value: GGUFValue, to out: inout ByteWriter) {
        switch value {
        case .uint8(let v): out.write(v)
        case .int8(let v): out.write(v)
        case .uint16(let v): out.write(v)
        case .int16(let v): out.write(v)
        case .uint32(let v): out.write(v)
        case .int32(let v): out.write(v)
        case .float32(let v): out.writeFloat(v)
        case .bool(let v): out.write(UInt8(v ? 1 : 0))
        case .string(let v): out.writeString(v)
        case .uint64(let v): out.write(v)
        case .int64(let v): out.write(v)
        case .float64(let v): out.writeDouble(v)
        case .array(let elements):
            let kind = elements.first?.kind ?? .uint8
            precondition(elements.allSatisfy { $0.kind == kind }, "GGUF array elements must share one type")
            out.write(kind.rawValue)
            out.write(UInt64(elements.count))
            for element in elements { writePayload(of: element, to: &out) }
        }
    }
}
