import Foundation
import XCTest
@testable import GGUF

/// Every way a GGUF file can be wrong is reported as a typed `GGUFError`, never a crash.
final class GGUFReaderErrorTests: XCTestCase {
    /// A small valid file whose names are easy to find and patch. Its last tensor (32 bytes of
    /// F32) ends on the alignment boundary, so the file has no trailing padding.
    static let sample: [UInt8] = {
        var writer = GGUFWriter()
        writer.set("key.a", .uint32(7))
        writer.set("key.b", .string("text"))
        writer.set("key.list", .array([.int16(1), .int16(2)]))
        writer.addTensor(name: "tensor.q", dimensions: [32, 1], type: .q8_0,
                         data: Quantize.blocks((0 ..< 32).map { Float($0) }, as: .q8_0))
        writer.addTensor(name: "tensor.f", dimensions: [8, 1], floats: [1, 2, 3, 4, 5, 6, 7, 8])
        return writer.bytes()
    }()

    /// Byte offsets in `sample`: a key's value type follows its name; a tensor info is the name,
    /// then dimension count (UInt32), dimensions (UInt64 each; both sample tensors have two), type
    /// (UInt32) and offset (UInt64).
    static func valueType(of key: String) -> Int { sample.offset(of: key) + key.utf8.count }
    static func dimensionCount(of tensor: String) -> Int { sample.offset(of: tensor) + tensor.utf8.count }
    static func firstDimension(of tensor: String) -> Int { dimensionCount(of: tensor) + 4 }
    static func tensorType(of tensor: String) -> Int { dimensionCount(of: tensor) + 4 + 16 }
    static func tensorOffset(of tensor: String) -> Int { tensorType(of: tensor) + 4 }

    func testSampleFileIsValid() throws {
        let file = try GGUFFile(bytes: Self.sample)
        XCTAssertEqual(file.tensors.map(\.name), ["tensor.q", "tensor.f"])
        XCTAssertEqual(file.dataOffset + file.tensors[1].offset + 32, Self.sample.count)
    }

    func testWrongMagicIsBadMagic() {
        var bytes = Self.sample
        bytes.replaceSubrange(0 ..< 4, with: Array("GGML".utf8))
        XCTAssertParseFails(bytes, with: .badMagic(found: 0x4C4D_4747))
        XCTAssertParseFails([UInt8](repeating: 0, count: 64), with: .badMagic(found: 0))
    }

    func testVersionsOtherThan2And3AreUnsupported() {
        for version: UInt32 in [0, 1, 4, .max] {
            var bytes = Self.sample
            bytes.patch(version, at: 4)
            XCTAssertParseFails(bytes, with: .unsupportedVersion(version))
        }
    }

    func testEveryTruncationOfAValidFileIsATypedError() {
        let sample = Self.sample
        for length in 0 ..< sample.count {
            XCTAssertThrowsError(try GGUFFile(bytes: Array(sample[..<length])), "prefix of \(length) bytes") { error in
                switch error as? GGUFError {
                case .truncated?, .tooLarge?, .tensorOutOfRange?: break
                default: XCTFail("prefix of \(length) bytes: unexpected \(error)")
                }
            }
        }
        XCTAssertParseFails(Array(sample[..<6]), with: .truncated(at: 4, needed: 4, fileSize: 6))
    }

    func testUnknownValueTypeNamesItsKey() {
        var bytes = Self.sample
        bytes.patch(UInt32(13), at: Self.valueType(of: "key.a"))
        XCTAssertParseFails(bytes, with: .unknownValueType(13, key: "key.a"))

        bytes = Self.sample
        bytes.patch(UInt32(99), at: Self.valueType(of: "key.list") + 4)  // the array's element type
        XCTAssertParseFails(bytes, with: .unknownValueType(99, key: "key.list"))
    }

    func testUnknownTensorTypeNamesItsTensor() {
        for rawType: UInt32 in [16, 99] {  // 16 is GGML's IQ2_XXS, which this engine does not read
            var bytes = Self.sample
            bytes.patch(rawType, at: Self.tensorType(of: "tensor.f"))
            XCTAssertParseFails(bytes, with: .unknownTensorType(rawType, tensor: "tensor.f"))
        }
    }

    func testAlignmentThatIsNotAPositivePowerOfTwoIsBadAlignment() {
        let cases: [(GGUFValue, Int)] = [(.uint32(0), 0), (.uint32(3), 3), (.uint32(48), 48), (.int64(-32), -32), (.string("32"), -1)]
        for (value, reported) in cases {
            var writer = GGUFWriter()
            writer.set("general.alignment", value)
            XCTAssertParseFails(writer.bytes(), with: .badAlignment(reported))
        }
    }

    func testTensorDataPastTheEndOfTheFileIsOutOfRange() throws {
        let file = try GGUFFile(bytes: Self.sample)
        let end = file.dataOffset + file.tensors[1].offset + 32

        XCTAssertParseFails(Array(Self.sample.dropLast(1)),
                            with: .tensorOutOfRange(tensor: "tensor.f", end: end, fileSize: end - 1))

        var bytes = Self.sample
        bytes.patch(UInt64(1 << 40), at: Self.tensorOffset(of: "tensor.f"))
        XCTAssertParseFails(bytes, with: .tensorOutOfRange(tensor: "tensor.f", end: 1 << 40, fileSize: bytes.count))

        bytes = Self.sample
        bytes.patch(UInt64(1 << 20), at: Self.firstDimension(of: "tensor.f"))
        bytes.patch(UInt64(1 << 20), at: Self.firstDimension(of: "tensor.f") + 8)
        XCTAssertParseFails(bytes, with: .tensorOutOfRange(tensor: "tensor.f", end: end - 32 + (1 << 42), fileSize: bytes.count))
    }

    func testTensorOffsetOffTheAlignmentIsMisaligned() {
        var bytes = Self.sample
        bytes.patch(UInt64(33), at: Self.tensorOffset(of: "tensor.f"))
        XCTAssertParseFails(bytes, with: .misalignedTensor(tensor: "tensor.f", offset: 33, alignment: 32))
    }

    /// 2^31 x 2^31 F32 elements fit in an Int, but their 2^64 bytes do not.
    func testShapeWhoseByteSizeOverflowsIsABadShapeNotACrash() {
        var bytes = Self.sample
        bytes.patch(UInt64(1 << 31), at: Self.firstDimension(of: "tensor.f"))
        bytes.patch(UInt64(1 << 31), at: Self.firstDimension(of: "tensor.f") + 8)
        XCTAssertParseFails(bytes, with: .badTensorShape(tensor: "tensor.f", dimensions: [1 << 31, 1 << 31]))

        bytes = Self.sample
        for i in 0 ..< 2 { bytes.patch(UInt64(1 << 39), at: Self.firstDimension(of: "tensor.f") + 8 * i) }
        XCTAssertParseFails(bytes, with: .badTensorShape(tensor: "tensor.f", dimensions: [1 << 39, 1 << 39]))
    }

    func testImplausibleCountsAreTooLarge() {
        let huge = UInt64(1) << 60
        let cases: [(Int, GGUFError)] = [
            (8, .tooLarge(what: "tensor", count: huge)),
            (16, .tooLarge(what: "metadata key", count: huge)),
            (Self.sample.offset(of: "key.a") - 8, .tooLarge(what: "string length", count: huge)),
            (Self.sample.offset(of: "text") - 8, .tooLarge(what: "string length", count: huge)),
            (Self.valueType(of: "key.list") + 8, .tooLarge(what: "array element", count: huge)),
        ]
        for (offset, expected) in cases {
            var bytes = Self.sample
            bytes.patch(huge, at: offset)
            XCTAssertParseFails(bytes, with: expected)
        }
        var bytes = Self.sample
        bytes.patch(UInt64.max, at: 16)
        XCTAssertParseFails(bytes, with: .tooLarge(what: "metadata key", count: .max))
    }

    func testArraysNestedDeeperThanFourLevelsAreTooLarge() throws {
        var value = GGUFValue.array([.uint8(1)])
        for _ in 0 ..< 3 { value = .array([value]) }
        var writer = GGUFWriter()
        writer.set("deep", value)
        XCTAssertNoThrow(try GGUFFile(bytes: writer.bytes()), "four levels are allowed")

        writer.set("deep", .array([value]))
        XCTAssertParseFails(writer.bytes(), with: .tooLarge(what: "nested array depth of 'deep'", count: 5))
    }

    func testInvalidUTF8IsAnInvalidStringAtItsLengthField() {
        let cases: [(String, [UInt8])] = [("key.a", [0xFF]), ("text", [0xC3, 0x28]), ("tensor.q", [0xED, 0xA0, 0x80])]
        for (string, garbage) in cases {
            var bytes = Self.sample
            let start = bytes.offset(of: string)
            bytes.replaceSubrange(start ..< start + garbage.count, with: garbage)
            XCTAssertParseFails(bytes, with: .invalidString(at: start - 8))
        }
    }

    func testDuplicateKeyIsRefused() {
        var bytes = Self.sample
        bytes.replaceSubrange(bytes.offset(of: "key.b") ..< bytes.offset(of: "key.b") + 5, with: Array("key.a".utf8))
        XCTAssertParseFails(bytes, with: .duplicateKey("key.a"))
    }

    func testDuplicateTensorIsRefused() {
        var bytes = Self.sample
        let start = bytes.offset(of: "tensor.f")
        bytes.replaceSubrange(start ..< start + 8, with: Array("tensor.q".utf8))
        XCTAssertParseFails(bytes, with: .duplicateTensor("tensor.q"))
    }

    func testZeroOrTooManyDimensionsAreABadShape() {
        for count: UInt32 in [0, 5, .max] {
            var bytes = Self.sample
            bytes.patch(count, at: Self.dimensionCount(of: "tensor.f"))
            XCTAssertParseFails(bytes, with: .badTensorShape(tensor: "tensor.f", dimensions: [Int(count)]))
        }
    }

    func testZeroSizedOrPartialBlockDimensionIsABadShape() {
        var bytes = Self.sample
        bytes.patch(UInt64(0), at: Self.firstDimension(of: "tensor.f"))
        XCTAssertParseFails(bytes, with: .badTensorShape(tensor: "tensor.f", dimensions: [0]))

        bytes = Self.sample
        bytes.patch(UInt64(16), at: Self.firstDimension(of: "tensor.q"))  // half a Q8_0 block
        XCTAssertParseFails(bytes, with: .badTensorShape(tensor: "tensor.q", dimensions: [16, 1]))
    }

    func testMissingFileAndDirectoryCannotBeOpened() throws {
        let directory = try temporaryDirectory(for: self)
        for path in [directory.appendingPathComponent("absent.gguf").path, directory.path] {
            XCTAssertThrowsError(try GGUFFile(path: path)) { error in
                guard case .cannotOpen(let p, _)? = error as? GGUFError else { return XCTFail("\(path): \(error)") }
                XCTAssertEqual(p, path)
            }
        }
    }

    func testEmptyFileIsTruncated() throws {
        let url = try temporaryDirectory(for: self).appendingPathComponent("empty.gguf")
        XCTAssertTrue(FileManager.default.createFile(atPath: url.path, contents: Data()))
        XCTAssertThrowsError(try GGUFFile(path: url.path)) { error in
            XCTAssertEqual(error as? GGUFError, .truncated(at: 0, needed: 4, fileSize: 0))
        }
        XCTAssertParseFails([], with: .truncated(at: 0, needed: 4, fileSize: 0))
    }

    func testMetadataAccessorsReportMissingAndMistypedKeys() throws {
        let file = try GGUFFile(bytes: Self.sample)
        XCTAssertEqual(try file.int("key.a"), 7)
        XCTAssertEqual(try file.intArray("key.list"), [1, 2])
        XCTAssertThrowsError(try file.string("absent")) { XCTAssertEqual($0 as? GGUFError, .missingMetadata("absent")) }
        XCTAssertThrowsError(try file.string("key.a")) {
            XCTAssertEqual($0 as? GGUFError, .wrongMetadataType(key: "key.a", expected: "a string"))
        }
        XCTAssertThrowsError(try file.int("key.b")) {
            XCTAssertEqual($0 as? GGUFError, .wrongMetadataType(key: "key.b", expected: "an integer"))
        }
        XCTAssertThrowsError(try file.stringArray("key.list")) {
            XCTAssertEqual($0 as? GGUFError, .wrongMetadataType(key: "key.list", expected: "an array of strings"))
        }
    }

    /// Random corruption anywhere in a valid file parses or throws a GGUFError; it never traps.
    func testRandomByteCorruptionNeverCrashes() {
        var rng = SeededGenerator(seed: 3)
        for _ in 0 ..< 5000 {
            var bytes = Self.sample
            for _ in 0 ..< Int.random(in: 1 ... 4, using: &rng) {
                bytes[Int.random(in: 0 ..< bytes.count, using: &rng)] = UInt8.random(in: 0 ... 255, using: &rng)
            }
            do {
                let file = try GGUFFile(bytes: bytes)
                for tensor in file.tensors { _ = file.floats(of: tensor) }
            } catch {
                XCTAssertTrue(error is GGUFError, "\(error)")
            }
        }
    }
}
