/// A UTF-8 text decoded once into scalar values, their pre-tokenizer classes and byte offsets, so
/// the scanners can look ahead by scalar and still cut the text at byte positions.
struct DecodedScalars {
    private(set) var values: [UInt32] = []
    private(set) var classes: [ScalarClass] = []
    /// `byteOffsets[i]` is where scalar `i` starts; one extra entry marks the end.
    private(set) var byteOffsets: [Int] = []

    var count: Int { values.count }

    /// Decodes `bytes[range]`, which must be valid UTF-8 (it comes from a Swift `String`).
    mutating func decode(_ bytes: UnsafeBufferPointer<UInt8>, range: Range<Int>) {
        values.removeAll(keepingCapacity: true)
        classes.removeAll(keepingCapacity: true)
        byteOffsets.removeAll(keepingCapacity: true)
        var i = range.lowerBound
        while i < range.upperBound {
            let lead = bytes[i]
            var value: UInt32
            var length: Int
            if lead < 0x80 {
                value = UInt32(lead); length = 1
            } else if lead < 0xE0 {
                value = UInt32(lead & 0x1F); length = 2
            } else if lead < 0xF0 {
                value = UInt32(lead & 0x0F); length = 3
            } else {
                value = UInt32(lead & 0x07); length = 4
            }
            length = min(length, range.upperBound - i)
            for k in 1..<max(length, 1) { value = (value << 6) | UInt32(bytes[i + k] & 0x3F) }
            values.append(value)
            classes.append(ScalarClass.of(value))
            byteOffsets.append(i)
            i += length
        }
        byteOffsets.append(range.upperBound)
    }
}
