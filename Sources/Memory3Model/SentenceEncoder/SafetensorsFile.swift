import Foundation

/// A `.safetensors` file (Hugging Face's weight format): an 8-byte little-endian header length, a
/// JSON header naming each tensor's dtype, shape and byte range, then the raw bytes. F32 tensors are
/// copied out on request (`tensor`); their byte range in the file (`range`) lets a reader take rows
/// from the file itself (the sentence encoder's word-embedding table, of which a text reads a few
/// rows). Asking for another dtype is an error naming the tensor.
public struct SafetensorsFile: Sendable {
    public struct Tensor: Sendable {
        public let dtype: String
        public let shape: [Int]
        /// Where its bytes are in `data`.
        public let range: Range<Int>
    }

    public let tensors: [String: Tensor]
    /// The whole file, in memory while this value lives.
    public let data: Data
    /// The file it was read from (nil: built from bytes).
    public let path: String?

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError.invalidWeights("cannot read \(path)")
        }
        try self.init(data: data, name: path, path: path)
    }

    public init(data: Data, name: String = "safetensors", path: String? = nil) throws {
        guard data.count >= 8 else { throw ModelError.invalidWeights("\(name): too short for a safetensors header") }
        let start = data.startIndex
        let headerLength = data[start ..< start + 8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100 << 20 else {
            throw ModelError.invalidWeights("\(name): header length \(headerLength) past the end of the file")
        }
        let body = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: data[start + 8 ..< start + body]) as? [String: Any] else {
            throw ModelError.invalidWeights("\(name): the header is not a JSON object")
        }
        var tensors: [String: Tensor] = [:]
        for (key, value) in header where key != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ModelError.invalidWeights("\(name): tensor '\(key)' has no dtype, shape or data_offsets")
            }
            let (first, end) = (offsets[0], offsets[1])
            let width = dtype == "F32" ? 4 : nil
            guard first >= 0, first <= end, body + end <= data.count, width.map({ end - first == shape.reduce(1, *) * $0 }) ?? true else {
                throw ModelError.invalidWeights("\(name): tensor '\(key)' has a byte range that does not fit its shape or the file")
            }
            tensors[key] = Tensor(dtype: dtype, shape: shape, range: body + first ..< body + end)
        }
        self.tensors = tensors
        self.data = data
        self.path = path
    }

    /// The tensor `name`, which must be F32 with exactly `shape`.
    public func checked(_ name: String, shape: [Int]) throws -> Tensor {
        guard let tensor = tensors[name] else { throw ModelError.invalidWeights("missing tensor '\(name)'") }
        guard tensor.dtype == "F32" else { throw ModelError.invalidWeights("tensor '\(name)' is \(tensor.dtype), only F32 is read") }
        guard tensor.shape == shape else {
            throw ModelError.invalidWeights("tensor '\(name)' has shape \(tensor.shape), expected \(shape)")
        }
        return tensor
    }

    /// A copy of the F32 tensor `name` with exactly `shape`. (The format is little-endian, as is
    /// every machine this runs on.)
    public func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        let range = try checked(name, shape: shape).range
        var values = [Float](repeating: 0, count: range.count / 4)
        values.withUnsafeMutableBytes { out in
            data.copyBytes(to: out.bindMemory(to: UInt8.self), from: data.startIndex + range.lowerBound ..< data.startIndex + range.upperBound)
        }
        return values
    }
}
