import Memory3Model
import Memory3TestSupport
@testable import Memory3Memory
import MemoryStore
import XCTest

/// The compact profile: evolved selection with its own codec, beside dense memories in one store.
final class CompactProfileTests: XCTestCase {
    let text = "The lighthouse keeper climbed the stairs every evening to light the lamp."

    func testCompactNamesItsCodecAndRefusesAnother() throws {
        XCTAssertEqual(try MemoryProfile(parsing: "compact"), .compact)
        XCTAssertEqual(MemoryProfile.compact.name, "compact")
        XCTAssertEqual(MemoryProfile.compact.codec, MemoryProfile.compactCodec)
        XCTAssertEqual(try MemoryProfile.compact.storageCodec(requested: nil), MemoryProfile.compactCodec)
        XCTAssertEqual(try MemoryProfile.compact.storageCodec(requested: MemoryProfile.compactCodec), MemoryProfile.compactCodec)
        XCTAssertThrowsError(try MemoryProfile.compact.storageCodec(requested: .fp16)) {
            XCTAssertTrue("\($0)".contains("compact profile stores"), "\($0)")
        }
        XCTAssertNil(MemoryProfile.dense.codec)
        XCTAssertEqual(try MemoryProfile.dense.storageCodec(requested: nil), .int8)
        XCTAssertEqual(try MemoryProfile.dense.storageCodec(requested: .int2), .int2)
        let plan = try MemoryProfile.compact.plan(layerCount: 4)
        XCTAssertEqual(plan.layers, [0, 1, 2, 3])
        XCTAssertEqual(plan.budget, MemoryProfile.compactBudget)
        XCTAssertEqual(plan.selection, .evolved)
    }

    /// With no codec asked for, a profile that fixes none stores the model's own; a request and a
    /// profile's own codec both come before it.
    func testTheModelsOwnCodecIsTheDefaultAfterTheProfileAndTheRequest() throws {
        func model(_ architecture: String) -> DecoderConfig {
            DecoderConfig(architecture: architecture, vocabularySize: 32, embeddingLength: 16, layerCount: 2, headCount: 2,
                          kvHeadCount: 1, headDim: 8, contextLength: 64)
        }
        XCTAssertEqual(MemoryCodec.modelDefault(for: model("llama")), .int3r)
        XCTAssertEqual(MemoryCodec.modelDefault(for: model("gemma3")), .int2)
        XCTAssertEqual(MemoryCodec.modelDefault(for: model("qwen3")), .int8)
        XCTAssertEqual(MemoryCodec.modelDefault(for: model("qwen3")), .default)
        XCTAssertEqual(try MemoryProfile.dense.storageCodec(requested: nil, modelDefault: .int3r), .int3r)
        XCTAssertEqual(try MemoryProfile.dense.storageCodec(requested: .int8, modelDefault: .int3r), .int8)
        XCTAssertEqual(try MemoryProfile.compact.storageCodec(requested: nil, modelDefault: .int2), MemoryProfile.compactCodec)
        XCTAssertEqual(try MemoryProfile.paper.storageCodec(requested: nil, modelDefault: .int2), .int2)
    }

    /// One reference holds a dense int8 memory and a compact one; each reads back as written
    /// (codec, profile, kept positions), and the compact one is the dense one's kept tokens.
    func testAStoreWithDenseAndCompactMemoriesOfOneReferenceReadsEach() throws {
        let (model, tokenizer, _) = try TinyLlamaFactory().make()
        let fingerprint = String(repeating: "ab", count: 32)
        let dense = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: .dense).encode(text)
        let compact = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: .compact).encode(text)
        let body = dense.tokenCount - dense.prefixTokenCount
        XCTAssertEqual(compact.tokenCount, dense.prefixTokenCount + MemoryProfile.compactBudget.tokens(of: body))
        XCTAssertLessThan(compact.tokenCount, dense.tokenCount)

        let folder = try TestPaths.temporaryFolder(self)
        let store = try MemoryStore(path: folder.appendingPathComponent("memory.db").path)
        defer { store.close() }
        let denseBlob = try MemoryCodec.int8.encode(dense, profile: "dense", fingerprint: fingerprint)
        let compactBlob = try MemoryProfile.compactCodec.encode(compact, profile: "compact", fingerprint: fingerprint)
        XCTAssertLessThan(compactBlob.count, denseBlob.count)
        let id = try store.insertDocument(NewDocument(
            title: "lighthouse", source: "test", sha256: ModelFingerprint.sha256Hex(Array(text.utf8)), bytes: text.utf8.count,
            references: [NewReference(ordinal: 0, text: text, tokenCount: body, memories: [
                NewMemory(profile: "dense", codec: "int8", blob: denseBlob),
                NewMemory(profile: "compact", codec: MemoryProfile.compactCodec.name, blob: compactBlob),
            ])]))
        let referenceId = try XCTUnwrap(try store.document(id: id)?.references.first?.id)
        for (profile, blob, original) in [("dense", denseBlob, dense), ("compact", compactBlob, compact)] {
            let stored = try XCTUnwrap(try store.memoryBlob(referenceId: referenceId, profile: profile))
            XCTAssertEqual(stored.blob, blob, profile)
            let decoded = try MemoryCodec.decode(stored.blob, expectedFingerprint: fingerprint)
            XCTAssertEqual(decoded.header.profile, profile)
            XCTAssertEqual(decoded.memory.positions, original.positions, profile)
            XCTAssertEqual(decoded.memory.tokenCount, original.tokenCount, profile)
            XCTAssertLessThanOrEqual(maxAbsoluteDifference(decoded.memory.keys, original.keys),
                                     original.keys.map(abs).max()! / (profile == "dense" ? 100 : 3), profile)
        }
        // Compact keeps, per row, a subset of the dense positions (prefix first).
        let p = dense.prefixTokenCount
        for row in 0 ..< compact.rowCount {
            let kept = compact.positions[row * compact.tokenCount ..< (row + 1) * compact.tokenCount]
            XCTAssertEqual(Array(kept.prefix(p)), (0 ..< p).map(Int32.init))
            XCTAssertTrue(kept.allSatisfy { $0 >= 0 && Int($0) < dense.tokenCount })
            XCTAssertEqual(Set(kept).count, kept.count)
        }
    }
}
