import Foundation
import XCTest
@testable import GGUF

/// The real model file, as llama.cpp's tools wrote it, reads as SmolLM2-135M and our writer
/// reproduces it. Skipped when the model has not been fetched.
final class SmolLM2ModelFileTests: XCTestCase {
    static let path = repositoryRoot.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path

    func openModel() throws -> GGUFFile {
        guard FileManager.default.fileExists(atPath: Self.path) else {
            throw XCTSkip("\(Self.path) is missing: run `make model`")
        }
        return try GGUFFile(path: Self.path)
    }

    func testHeaderDescribesSmolLM2With30Blocks() throws {
        let file = try openModel()
        XCTAssertEqual(file.version, 3)
        XCTAssertEqual(file.tensors.count, 272)
        XCTAssertEqual(try file.int("llama.block_count"), 30)
        XCTAssertEqual(try file.string("general.architecture"), "llama")
        let embedding = try XCTUnwrap(file.tensor(named: "token_embd.weight"))
        XCTAssertEqual(embedding.type, .q8_0)
        XCTAssertEqual(embedding.dimensions, [576, 49152])
    }

    func testEveryTensorLiesInsideTheFileWithoutOverlap() throws {
        let file = try openModel()
        var previousEnd = file.dataOffset
        for tensor in file.tensors.sorted(by: { $0.offset < $1.offset }) {
            let start = file.dataOffset + tensor.offset
            XCTAssertEqual(start % file.alignment, 0, tensor.name)
            XCTAssertGreaterThanOrEqual(start, previousEnd, tensor.name)
            previousEnd = start + tensor.byteCount
            XCTAssertLessThanOrEqual(previousEnd, file.fileSize, tensor.name)
        }
    }

    func testWriterReproducesTheModelFileByteForByte() throws {
        let file = try openModel()
        var writer = GGUFWriter(version: file.version, alignment: file.alignment)
        for key in file.metadataKeys { writer.set(key, file.metadata[key]!) }
        for tensor in file.tensors {
            writer.addTensor(name: tensor.name, dimensions: tensor.dimensions, type: tensor.type, data: Array(file.data(of: tensor)))
        }
        let written = writer.bytes()
        let original = try Data(contentsOf: URL(fileURLWithPath: Self.path))
        XCTAssertEqual(written.count, original.count)
        // memcmp: a byte loop over 98 MB is slow in an unoptimized test build.
        let same = written.withUnsafeBytes { w in original.withUnsafeBytes { o in
            w.count == o.count && memcmp(w.baseAddress!, o.baseAddress!, w.count) == 0
        } }
        XCTAssertTrue(same, "the writer's bytes differ from the llama.cpp file")
    }
}
