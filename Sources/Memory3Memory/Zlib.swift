import CZlib

/// zlib compression and CRC-32 over byte arrays.
enum Zlib {
    static func compress(_ input: [UInt8], level: Int32) throws -> [UInt8] {
        var bound = compressBound(uLong(input.count))
        var output = [UInt8](repeating: 0, count: Int(bound))
        let code = input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                compress2(dst.baseAddress, &bound, src.baseAddress, uLong(src.count), level)
            }
        }
        guard code == Z_OK else { throw MemoryCodecError.compressionFailed(code: code) }
        output.removeSubrange(Int(bound)...)
        return output
    }

    /// Inflates `input[range]`, which must produce exactly `size` bytes.
    static func decompress(_ input: [UInt8], range: Range<Int>, size: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: size)
        var produced = uLong(size)
        var consumed = uLong(range.count)
        let code = input.withUnsafeBufferPointer { src in
            output.withUnsafeMutableBufferPointer { dst in
                // A zero-size destination still needs a valid pointer for zlib.
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 1) { spare in
                    uncompress2(dst.baseAddress ?? spare.baseAddress, &produced, src.baseAddress! + range.lowerBound, &consumed)
                }
            }
        }
        guard code == Z_OK else {
            throw MemoryCodecError.corrupt(code == Z_BUF_ERROR ? "compressed payload is cut short or longer than declared"
                                                              : "compressed payload does not inflate (zlib code \(code))")
        }
        guard Int(produced) == size else {
            throw MemoryCodecError.corrupt("payload inflates to \(produced) bytes, the header says \(size)")
        }
        guard Int(consumed) == range.count else {
            throw MemoryCodecError.corrupt("\(range.count - Int(consumed)) bytes follow the compressed payload")
        }
        return output
    }

    static func crc32(_ bytes: [UInt8], range: Range<Int>? = nil) -> UInt32 {
        let r = range ?? bytes.indices
        return bytes.withUnsafeBufferPointer { buffer in
            var crc = CZlib.crc32(0, nil, 0)
            var start = r.lowerBound
            while start < r.upperBound {
                let n = min(r.upperBound - start, 1 << 30)
                crc = CZlib.crc32(crc, buffer.baseAddress! + start, uInt(n))
                start += n
            }
            return UInt32(truncatingIfNeeded: crc)
        }
    }
}
