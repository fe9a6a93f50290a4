/// Bounds-checked little-endian reads over a byte buffer; every overrun is a typed error.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    var offset: Int = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    mutating func need(_ count: Int) throws {
        guard count >= 0, offset <= bytes.count, count <= bytes.count - offset else {
            throw GGUFError.truncated(at: offset, needed: count, fileSize: bytes.count)
        }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size)
        let value = bytes.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += MemoryLayout<T>.size
        return T(littleEndian: value)
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// A count field, refused when it could not possibly fit in the rest of the file.
    mutating func readCount(_ what: String, minBytesEach: Int) throws -> Int {
        let count = try read(UInt64.self)
        let remaining = UInt64(bytes.count - offset)
        if count > remaining / UInt64(max(minBytesEach, 1)) {
            if minBytesEach == 0 && count <= remaining { return Int(count) }
            throw GGUFError.tooLarge(what: what, count: count)
        }
        return Int(count)
    }

    mutating func readString() throws -> String {
        let start = offset
        let length = try readCount("string length", minBytesEach: 1)
        try need(length)
        let slice = UnsafeRawBufferPointer(rebasing: bytes[offset ..< offset + length])
        guard let string = String(validating: slice, as: UTF8.self) else {
            throw GGUFError.invalidString(at: start)
        }
        offset += length
        return string
    }
}
