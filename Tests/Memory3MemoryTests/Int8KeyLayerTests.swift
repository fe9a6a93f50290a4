import Foundation
import Memory3Model
@testable import Memory3Memory
import XCTest

/// Low-bit memories that keep one layer's keys at int8 (the retrieval head's layer): that layer's
/// keys read back as an int8 memory's would, everything else as the plain low-bit memory's.
final class Int8KeyLayerTests: XCTestCase {
    let fingerprint = String(repeating: "cd", count: 32)

    func decode(_ memory: EncodedMemory, _ codec: MemoryCodec, int8KeyLayers: [Int]) throws -> DecodedMemory {
        let blob = try codec.encode(memory, profile: "dense", fingerprint: fingerprint, int8KeyLayers: int8KeyLayers)
        return try MemoryCodec.decode(blob, expectedFingerprint: fingerprint)
    }

    /// Rows are layer-major: layer index i holds rows i*heads ..< (i+1)*heads.
    func keyRange(_ memory: EncodedMemory, layerIndex: Int) -> Range<Int> {
        let rowElements = memory.tokenCount * memory.headDim
        return layerIndex * memory.kvHeadCount * rowElements ..< (layerIndex + 1) * memory.kvHeadCount * rowElements
    }

    func testTheChosenLayersKeysReadAsInt8AndTheRestAsTheLowBitCodec() throws {
        let memory = randomMemory(layers: [2, 5, 9], heads: 2, headDim: 64, tokens: 70, prefix: 3)
        let asInt8 = try decode(memory, .int8, int8KeyLayers: []).memory
        for codec in MemoryCodec.allCases where codec.isLowBit {
            let plain = try decode(memory, codec, int8KeyLayers: []).memory
            let mixed = try decode(memory, codec, int8KeyLayers: [5])
            XCTAssertEqual(mixed.header.int8KeyLayers, [5], "\(codec)")
            let middle = keyRange(memory, layerIndex: 1)
            XCTAssertEqual(Array(mixed.memory.keys[middle]), Array(asInt8.keys[middle]), "\(codec): layer 5 keys are the int8 ones")
            XCTAssertNotEqual(Array(plain.keys[middle]), Array(asInt8.keys[middle]), "\(codec): the low-bit keys differ (the test can fail)")
            for other in [0, 2] {
                let range = keyRange(memory, layerIndex: other)
                XCTAssertEqual(Array(mixed.memory.keys[range]), Array(plain.keys[range]), "\(codec): layer index \(other)")
            }
            XCTAssertEqual(mixed.memory.values, plain.values, "\(codec): values untouched")
            XCTAssertEqual(mixed.memory.positions, memory.positions)
        }
    }

    func testLayersTheMemoryLacksAreSkippedAndDuplicatesAndOrderDoNotMatter() throws {
        let memory = randomMemory(layers: [2, 5, 9], heads: 2, headDim: 32, tokens: 40)
        let decoded = try decode(memory, .int3r, int8KeyLayers: [9, 7, 2, 9])
        XCTAssertEqual(decoded.header.int8KeyLayers, [2, 9])
        let none = try decode(memory, .int3r, int8KeyLayers: [1, 3])
        XCTAssertEqual(none.header.int8KeyLayers, [])
        XCTAssertEqual(none.memory, try decode(memory, .int3r, int8KeyLayers: []).memory)
    }

    func testFP16AndInt8MemoriesStoreNoInt8KeyLayers() throws {
        let memory = randomMemory(layers: [0, 1], heads: 1, headDim: 16, tokens: 20)
        for codec in [MemoryCodec.fp16, .int8] {
            let blob = try codec.encode(memory, profile: "dense", fingerprint: fingerprint, int8KeyLayers: [1])
            XCTAssertEqual(blob, try codec.encode(memory, profile: "dense", fingerprint: fingerprint), "\(codec)")
            XCTAssertEqual(try MemoryCodec.decode(blob, expectedFingerprint: nil).header.int8KeyLayers, [])
        }
    }

    /// The extra section costs one int8 key section of one layer: size grows by exactly that.
    func testTheBlobGrowsByOneInt8KeySectionPerLayer() throws {
        let memory = randomMemory(layers: [0, 1, 2, 3], heads: 3, headDim: 64, tokens: 64, prefix: 3)
        let header = { (layers: [Int]) in
            try MemoryBlobHeader.parse(try MemoryCodec.int2.encode(memory, profile: "dense", fingerprint: self.fingerprint,
                                                                   int8KeyLayers: layers)).header
        }
        let plain = try header([]), one = try header([3])
        XCTAssertEqual(one.uncompressedSize - plain.uncompressedSize, 2 * 3 * 64 + 3 * 64 * 64)
    }

    /// A blob written before int8-key layers existed (the byte after the codec was zero) still
    /// reads: its header says none, and it decodes as before.
    func testABlobWithoutInt8KeyLayersHasTheOldLayout() throws {
        let memory = randomMemory(layers: [0, 1], heads: 2, headDim: 32, tokens: 33)
        let blob = try MemoryCodec.int4.encode(memory, profile: "dense", fingerprint: fingerprint)
        XCTAssertEqual(blob[7], 0, "the former reserved byte")
        let header = try MemoryCodec.decode(blob, expectedFingerprint: fingerprint).header
        XCTAssertEqual(header.int8KeyLayers, [])
        XCTAssertEqual(header.version, 1, "written as version 1, which older builds read")
    }

    /// A blob with int8-key layers is version 2 (a version-1-only build refuses it by version);
    /// a version 1 header that names some is refused.
    func testABlobWithInt8KeyLayersIsVersion2AndVersion1MayNotHaveThem() throws {
        let memory = randomMemory(layers: [0, 1], heads: 1, headDim: 16, tokens: 20)
        let blob = try MemoryCodec.int3r.encode(memory, profile: "dense", fingerprint: fingerprint, int8KeyLayers: [0])
        var (header, offset) = try MemoryBlobHeader.parse(blob)
        XCTAssertEqual(header.version, 2)
        header.version = 1
        let forged = header.serialized() + blob[offset...]
        XCTAssertThrowsError(try MemoryCodec.decode(Array(forged), expectedFingerprint: nil)) { error in
            guard case MemoryCodecError.corrupt = error else { return XCTFail("\(error)") }
        }
    }

    /// A header naming int8-key layers the memory does not have is a typed error, even when its
    /// checksum is right (a writer that got it wrong, or a crafted blob).
    func testAHeaderNamingAnAbsentLayerIsRefused() throws {
        let memory = randomMemory(layers: [0, 1], heads: 1, headDim: 16, tokens: 20)
        let blob = try MemoryCodec.int3.encode(memory, profile: "dense", fingerprint: fingerprint, int8KeyLayers: [1])
        var (header, offset) = try MemoryBlobHeader.parse(blob)
        header.int8KeyLayers = [4]
        let forged = header.serialized() + blob[offset...]
        XCTAssertThrowsError(try MemoryCodec.decode(Array(forged), expectedFingerprint: nil)) { error in
            guard case MemoryCodecError.corrupt = error else { return XCTFail("\(error)") }
        }
    }
}
