/// Little-endian appends to a byte buffer.
struct BlobWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// A UInt16 byte length, then UTF-8 bytes.
    mutating func writeString(_ value: String) {
        let utf8 = Array(value.utf8)
        write(UInt16(utf8.count))
        bytes.append(contentsOf: utf8)
    }
}

/// Little-endian reads with bounds checks that throw `MemoryCodecError.truncated`.
struct BlobReader {
    let bytes: [UInt8]
    private(set) var position: Int

    init(_ bytes: [UInt8], position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw MemoryCodecError.truncated(needed: position + size, available: bytes.count) }
        var value: T = 0
        for i in 0 ..< size { value |= T(truncatingIfNeeded: bytes[position + i]) << (8 * i) }
        position += size
        return value
    }

    mutating func readString(maxLength: Int) throws -> String {
        let length = Int(try read(UInt16.self))
        guard length <= maxLength else { throw MemoryCodecError.corrupt("a string of \(length) bytes (at most \(maxLength))") }
        guard remaining >= length else { throw MemoryCodecError.truncated(needed: position + length, available: bytes.count) }
        let slice = bytes[position ..< position + length]
        position += length
        guard let text = String(validating: slice, as: UTF8.self) else { throw MemoryCodecError.corrupt("a string is not UTF-8") }
        return text
    }
}
