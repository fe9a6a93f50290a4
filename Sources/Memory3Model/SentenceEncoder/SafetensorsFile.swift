import Foundation

/// A `.safetensors` file (Hugging Face's weight format): an 8-byte little-endian header length, a
/// JSON header naming each tensor's dtype, shape and byte range, then the raw bytes. Only F32
/// tensors are read (the sentence encoder's weights); asking for another is an error naming it.
public struct SafetensorsFile: Sendable {
    public struct Tensor: Sendable {
        public let dtype: String
        public let shape: [Int]
        public let values: [Float]
    }

    public let tensors: [String: Tensor]

    public init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError.invalidWeights("cannot read \(path)")
        }
        try self.init(data: data, name: path)
    }

    public init(data: Data, name: String = "safetensors") throws {
        guard data.count >= 8 else { throw ModelError.invalidWeights("\(name): too short for a safetensors header") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
        guard headerLength <= UInt64(data.count - 8), headerLength < 100 << 20 else {
            throw ModelError.invalidWeights("\(name): header length \(headerLength) past the end of the file")
        }
        let body = 8 + Int(headerLength)
        guard let header = try? JSONSerialization.jsonObject(with: data.subdata(in: 8 ..< body)) as? [String: Any] else {
            throw ModelError.invalidWeights("\(name): the header is not a JSON object")
        }
        var tensors: [String: Tensor] = [:]
        for (key, value) in header where key != "__metadata__" {
            guard let entry = value as? [String: Any], let dtype = entry["dtype"] as? String,
                  let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2 else {
                throw ModelError.invalidWeights("\(name): tensor '\(key)' has no dtype, shape or data_offsets")
            }
            guard dtype == "F32" else {
                // Buffers such as BERT's `position_ids` (I64) are not weights: kept by name only.
                tensors[key] = Tensor(dtype: dtype, shape: shape, values: [])
                continue
            }
            let count = shape.reduce(1, *)
            let (start, end) = (offsets[0], offsets[1])
            guard start >= 0, end - start == count * 4, body + end <= data.count else {
                throw ModelError.invalidWeights("\(name): tensor '\(key)' has a byte range that does not fit its shape or the file")
            }
            var values = [Float](repeating: 0, count: count)
            values.withUnsafeMutableBytes { out in
                data.copyBytes(to: out.bindMemory(to: UInt8.self), from: body + start ..< body + end)
            }
            // The format is little-endian, as is every machine this runs on.
            tensors[key] = Tensor(dtype: dtype, shape: shape, values: values)
        }
        self.tensors = tensors
    }

    /// The tensor `name` with exactly `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> [Float] {
        guard let tensor = tensors[name] else { throw ModelError.invalidWeights("missing tensor '\(name)'") }
        guard tensor.dtype == "F32" else { throw ModelError.invalidWeights("tensor '\(name)' is \(tensor.dtype), only F32 is read") }
        guard tensor.shape == shape else {
            throw ModelError.invalidWeights("tensor '\(name)' has shape \(tensor.shape), expected \(shape)")
        }
        return tensor.values
    }
}
