import XCTest
@testable import GGUF

/// Files made by `GGUFWriter` read back through `GGUFFile` exactly as written.
final class GGUFWriterRoundTripTests: XCTestCase {
    /// One value of each of the thirteen GGUF types, with the edges of each range, and arrays
    /// of every shape the format allows: of strings, empty, nested, nested with mixed inner types.
    static let everyValueType: [(String, GGUFValue)] = [
        ("t.uint8", .uint8(.max)),
        ("t.int8", .int8(.min)),
        ("t.uint16", .uint16(.max)),
        ("t.int16", .int16(.min)),
        ("t.uint32", .uint32(.max)),
        ("t.int32", .int32(.min)),
        ("t.float32", .float32(-0.15625)),
        ("t.bool.true", .bool(true)),
        ("t.bool.false", .bool(false)),
        ("t.string", .string("naïve café — 日本語 🦙")),
        ("t.string.empty", .string("")),
        ("t.uint64", .uint64(.max)),
        ("t.int64", .int64(.min)),
        ("t.float64", .float64(-1.0e-300)),
        ("t.array.int32", .array([.int32(1), .int32(-2), .int32(3)])),
        ("t.array.strings", .array([.string("<|im_start|>"), .string(""), .string("Ġthe")])),
        ("t.array.empty", .array([])),
        ("t.array.float32", .array([.float32(.infinity), .float32(1.5), .float32(-.leastNonzeroMagnitude)])),
        ("t.array.nested", .array([
            .array([.uint8(1), .uint8(2)]),
            .array([.string("a"), .string("bc")]),
            .array([]),
            .array([.array([.float64(0.25)])]),
        ])),
    ]

    func testEveryMetadataValueTypeReadsBackUnchangedInOrder() throws {
        var writer = GGUFWriter()
        for (key, value) in Self.everyValueType { writer.set(key, value) }
        let file = try GGUFFile(bytes: writer.bytes())

        XCTAssertEqual(file.metadataKeys, Self.everyValueType.map(\.0))
        for (key, value) in Self.everyValueType {
            XCTAssertEqual(file.metadata[key], value, key)
            XCTAssertEqual(file.metadata[key]?.kind, value.kind, key)
        }
        let kinds = Set(Self.everyValueType.map(\.1.kind.rawValue))
        XCTAssertEqual(kinds, Set(0 ... 12), "the fixture covers all thirteen value types")
    }

    func testVersion2And3FilesReadBackAlike() throws {
        for version: UInt32 in [2, 3] {
            var writer = GGUFWriter(version: version)
            for (key, value) in Self.everyValueType { writer.set(key, value) }
            writer.addTensor(name: "w", dimensions: [4, 2], floats: [1, 2, 3, 4, 5, 6, 7, 8])
            let bytes = writer.bytes()
            let file = try GGUFFile(bytes: bytes)

            XCTAssertEqual(file.version, version)
            XCTAssertEqual(Array(bytes[4 ..< 8]), [UInt8(version), 0, 0, 0])
            XCTAssertEqual(file.metadataKeys, Self.everyValueType.map(\.0))
            XCTAssertEqual(file.floats(of: file.tensors[0]), [1, 2, 3, 4, 5, 6, 7, 8])
        }
    }

    func testSettingAKeyAgainReplacesItsValueAndKeepsItsPlace() throws {
        var writer = GGUFWriter()
        writer.set("a", .uint32(1))
        writer.set("b", .string("x"))
        writer.set("a", .string("replaced"))
        let file = try GGUFFile(bytes: writer.bytes())

        XCTAssertEqual(file.metadataKeys, ["a", "b"])
        XCTAssertEqual(file.metadata["a"], .string("replaced"))
    }

    func testHeaderAndLayoutFollowTheGGUFSpecification() throws {
        var writer = GGUFWriter()
        writer.set("general.architecture", .string("llama"))
        writer.addTensor(name: "a", dimensions: [3], floats: [1, 2, 3])  // 12 bytes, padded to 32
        writer.addTensor(name: "b", dimensions: [1], floats: [4])
        let bytes = writer.bytes()
        let file = try GGUFFile(bytes: bytes)

        XCTAssertEqual(Array(bytes[0 ..< 4]), Array("GGUF".utf8))
        XCTAssertEqual(Array(bytes[8 ..< 24]), [2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertNil(file.metadata["general.alignment"], "the default alignment is not written")
        XCTAssertEqual(file.alignment, 32)
        XCTAssertEqual(file.dataOffset % 32, 0)
        XCTAssertEqual(file.tensors.map(\.offset), [0, 32])
        XCTAssertEqual(bytes.count, file.dataOffset + 64, "the last tensor is padded too")
    }

    func testNonDefaultAlignmentPlacesEveryTensorOnItsBoundary() throws {
        var rng = SeededGenerator(seed: 1)
        for alignment in [1, 8, 64, 4096] {
            var writer = GGUFWriter(alignment: alignment)
            writer.set("x", .bool(true))
            let floats = [randomFloats(5, in: -1 ... 1, using: &rng), randomFloats(7, in: -1 ... 1, using: &rng)]
            writer.addTensor(name: "a", dimensions: [5], floats: floats[0])
            writer.addTensor(name: "b", dimensions: [7], floats: floats[1])
            let file = try GGUFFile(bytes: writer.bytes())

            XCTAssertEqual(file.alignment, alignment)
            XCTAssertEqual(file.metadataKeys, ["general.alignment", "x"])
            XCTAssertEqual(file.metadata["general.alignment"], .uint32(UInt32(alignment)))
            XCTAssertEqual(file.dataOffset % alignment, 0)
            for (tensor, expected) in zip(file.tensors, floats) {
                XCTAssertEqual(tensor.offset % alignment, 0, "alignment \(alignment)")
                XCTAssertEqual(file.floats(of: tensor), expected, "alignment \(alignment)")
            }
        }
    }

    func testTensorInfosAndDataRoundTripForEveryType() throws {
        var rng = SeededGenerator(seed: 2)
        var writer = GGUFWriter()
        var expected: [(GGUFTensorInfo, [UInt8])] = []
        for (i, type) in GGMLType.allCases.enumerated() {
            let dimensions = [2 * type.blockSize, 3, 1 + i % 2]
            let data = randomBytes(type.byteCount(elements: dimensions.reduce(1, *))!, using: &rng)
            writer.addTensor(name: "blk.\(i).\(type.name)", dimensions: dimensions, type: type, data: data)
            expected.append((GGUFTensorInfo(name: "blk.\(i).\(type.name)", dimensions: dimensions, type: type, offset: 0), data))
        }
        let file = try GGUFFile(bytes: writer.bytes())

        XCTAssertEqual(file.tensors.count, GGMLType.allCases.count)
        for (tensor, (want, data)) in zip(file.tensors, expected) {
            XCTAssertEqual(tensor.name, want.name)
            XCTAssertEqual(tensor.dimensions, want.dimensions)
            XCTAssertEqual(tensor.type, want.type)
            XCTAssertEqual(file.tensor(named: want.name), tensor)
            XCTAssertEqual(Array(file.data(of: tensor)), data, want.name)
        }
    }

    func testWrittenFileOpensByPath() throws {
        let url = try temporaryDirectory(for: self).appendingPathComponent("tiny.gguf")
        var writer = GGUFWriter(version: 2, alignment: 16)
        writer.set("general.name", .string("tiny"))
        let values = [Float](repeating: 127.0 / 128, count: 32)  // step 1/128: exact in Q8_0
        writer.addTensor(name: "q", dimensions: [32], type: .q8_0, data: Quantize.blocks(values, as: .q8_0))
        try writer.write(to: url.path)
        let file = try GGUFFile(path: url.path)

        XCTAssertEqual(file.fileSize, writer.bytes().count)
        XCTAssertEqual(try file.string("general.name"), "tiny")
        XCTAssertEqual(file.floats(of: file.tensors[0]), values)
    }

    func testWritingIntoAMissingDirectoryThrowsCannotWrite() throws {
        let path = try temporaryDirectory(for: self).appendingPathComponent("no/such/dir/x.gguf").path
        XCTAssertThrowsError(try GGUFWriter().write(to: path)) { error in
            guard case .cannotWrite(let p, _)? = error as? GGUFError else { return XCTFail("\(error)") }
            XCTAssertEqual(p, path)
        }
    }
}
