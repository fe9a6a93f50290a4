/// Little-endian appends to a growing byte buffer: the writing twin of `ByteReader`.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func write<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func writeFloat(_ value: Float) { write(value.bitPattern) }
    mutating func writeDouble(_ value: Double) { write(value.bitPattern) }

    /// A GGUF string: UInt64 byte length, then UTF-8 bytes without a terminator.
    mutating func writeString(_ value: String) {
        let utf8 = Array(value.utf8)
        write(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }

    /// Zero bytes up to the next multiple of `alignment`.
    mutating func pad(to alignment: Int) {
        let remainder = bytes.count % alignment
        if remainder != 0 { bytes.append(contentsOf: repeatElement(0, count: alignment - remainder)) }
    }
}
