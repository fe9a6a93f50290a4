import Memory3TestSupport
import Memory3Memory
import Memory3Model
import MemoryStore
import XCTest

/// Memories written to the store and read back give the same attention as freshly computed KV.
final class MemoryRoundTripTests: XCTestCase {
    static let reference = """
    The Velmora Observatory was founded in 1893 by the astronomer Ilse Kartveit on the slopes of \
    Mount Orrin. Its great refractor, with a lens of 71 centimetres, was ground in Jena and first \
    used on the night of 4 March 1895 to observe the comet later named after her assistant, Tomas Reyl.
    """
    static let question = "Question: Who founded the Velmora Observatory? Answer:"

    /// Store `memory` with `codec` in a fresh store, read its blob back and decode it.
    func storeAndReload(_ memory: EncodedMemory, codec: MemoryCodec, profile: String, fingerprint: String,
                        readFingerprint: String? = nil) throws -> EncodedMemory {
        let folder = try TestPaths.temporaryFolder(self)
        let store = try MemoryStore(path: folder.appendingPathComponent("memory.db").path)
        let blob = try codec.encode(memory, profile: profile, fingerprint: fingerprint)
        let id = try store.insertDocument(NewDocument(
            title: "velmora", source: "test", sha256: ModelFingerprint.sha256Hex(Array(Self.reference.utf8)),
            bytes: Self.reference.utf8.count,
            references: [NewReference(ordinal: 0, text: Self.reference, tokenCount: 60,
                                      memories: [NewMemory(profile: profile, codec: codec.name, blob: blob)])]))
        let referenceId = try XCTUnwrap(try store.document(id: id)?.references.first?.id)
        let stored = try XCTUnwrap(try store.memoryBlob(referenceId: referenceId, profile: profile))
        XCTAssertEqual(stored.codec, codec.name)
        XCTAssertEqual(stored.blob, blob)
        return try MemoryCodec.decode(stored.blob, expectedFingerprint: readFingerprint ?? fingerprint).memory
    }

    struct Agreement {
        var maxAbs: Float
        /// Max |Δlogit| at the last position (the next token's distribution).
        var lastMaxAbs: Float
        var meanAbs: Float
        /// Positions whose greedy next token is the same.
        var sameArgmax: Int
        var positions: Int
    }

    /// Logits of the question read after `memory` (context from position 512), all positions.
    func questionLogits(_ model: LlamaModel, _ question: [Int], _ memory: EncodedMemory) throws -> [Float] {
        let cache = model.makeCache(capacity: question.count, positionOffset: 512)
        return try model.forward(question, cache: cache, memory: [memory.segment()], logits: .all)
    }

    func compare(_ a: [Float], _ b: [Float], vocab: Int) -> Agreement {
        var sum: Float = 0
        for i in a.indices { sum += abs(a[i] - b[i]) }
        let positions = a.count / vocab
        let same = (0 ..< positions).filter { t in
            Sampler.argmax(Array(a[t * vocab ..< (t + 1) * vocab])) == Sampler.argmax(Array(b[t * vocab ..< (t + 1) * vocab]))
        }.count
        return Agreement(maxAbs: maxAbsoluteDifference(a, b),
                         lastMaxAbs: maxAbsoluteDifference(Array(a.suffix(vocab)), Array(b.suffix(vocab))), meanAbs: sum / Float(a.count), sameArgmax: same, positions: positions)
    }

    /// SmolLM2's weights at F16, which the engine multiplies in float: the forward pass is smooth,
    /// so the codec's error is all there is. Question logits (12 positions x 49,152; they span
    /// about ±20) read through the stored memory vs. through the fresh fp32 KV. Measured:
    ///
    ///     codec  max |Δ| all positions  max |Δ| last position  mean |Δ|
    ///     fp16   0.011                  0.0047                 0.0014
    ///     int8   0.30                   0.14                   0.053
    ///     int4   3.1                    1.06                   0.48
    ///     int3   4.2                    3.4                    0.69
    ///     int2   10.5                   7.6                    1.53
    ///     int3r  9.0                    3.95                   1.35
    ///     int2r  9.3                    9.3                    1.43
    ///
    /// (int3r moves these logits more than int3 does, averaged over the whole vocabulary, yet keeps
    /// the greedy token at every position and answers as int8 does on the eval sets, where int3
    /// loses points: this mean is not what answers depend on.)
    /// Asserted: fp16 <= 1e-2 at the last position and <= 2e-2 everywhere; int8 <= 0.6, mean <= 0.1;
    /// int4 <= 6, mean <= 1; int3 <= 8 (6 last), mean <= 1.4; int2 <= 16 (12 last), mean <= 3; int3r
    /// <= 12 (6 last), mean <= 2; int2r <= 14, mean <= 3; the
    /// greedy token agrees at every position for fp16 and int8.
    func testStoredMemoryGivesTheSameLogitsAsFreshKVOnTheRealModelWeights() throws {
        let (model, tokenizer, file) = try SmolLM2.loadF16()
        let fingerprint = ModelFingerprint.of(file)
        let fresh = try MemoryEncoder(model: model, tokenizer: tokenizer).encode(Self.reference)
        XCTAssertGreaterThan(fresh.tokenCount, 50)
        let question = tokenizer.encode(Self.question, parseSpecial: false)
        let expected = try questionLogits(model, question, fresh)
        let bounds: [MemoryCodec: (last: Float, all: Float, mean: Float)] = [
            .fp16: (1e-2, 2e-2, 5e-3), .int8: (0.6, 0.6, 0.1), .int4: (6, 6, 1), .int3: (6, 8, 1.4), .int2: (12, 16, 3), .int3r: (6, 12, 2), .int2r: (14, 14, 3),
        ]
        for codec in MemoryCodec.allCases {
            let decoded = try storeAndReload(fresh, codec: codec, profile: "dense", fingerprint: fingerprint)
            XCTAssertEqual(decoded.positions, fresh.positions)
            let a = compare(try questionLogits(model, question, decoded), expected, vocab: model.config.vocabularySize)
            print("f16 weights, \(codec): \(a)")
            let b = bounds[codec]!
            XCTAssertLessThanOrEqual(a.lastMaxAbs, b.last, "\(codec)")
            XCTAssertLessThanOrEqual(a.maxAbs, b.all, "\(codec)")
            XCTAssertLessThanOrEqual(a.meanAbs, b.mean, "\(codec)")
            if [.fp16, .int8].contains(codec) { XCTAssertEqual(a.sameArgmax, a.positions, "\(codec)") }
        }
    }

    /// The shipped Q4_1 model: its kernels round activations to 8 bits, so any perturbation of the
    /// memory moves some logits by ~1, even x(1 + 1e-7) (measured: max 0.81, mean 0.10). Measured
    /// for the stored memory: mean |Δlogit| fp16 0.28, int8 0.33, int4 0.46; the greedy token
    /// after the question is unchanged. Asserted: mean <= 0.6 for fp16 and int8, same greedy token.
    func testStoredMemoryKeepsTheAnswerOnTheQuantizedModel() throws {
        let (model, tokenizer, file) = try SmolLM2.load()
        let fingerprint = ModelFingerprint.of(file)
        let fresh = try MemoryEncoder(model: model, tokenizer: tokenizer).encode(Self.reference)
        let question = tokenizer.encode(Self.question, parseSpecial: false)
        let vocab = model.config.vocabularySize
        let expected = try questionLogits(model, question, fresh)
        var nudged = fresh
        nudged.values = nudged.values.map { $0 * (1 + 1e-7) }
        print("q4_1, noise floor: \(compare(try questionLogits(model, question, nudged), expected, vocab: vocab))")
        for codec in MemoryCodec.allCases {
            let decoded = try storeAndReload(fresh, codec: codec, profile: "dense", fingerprint: fingerprint)
            let got = try questionLogits(model, question, decoded)
            let a = compare(got, expected, vocab: vocab)
            print("q4_1, \(codec): \(a)")
            // The low-bit codecs: only the measured size of the error (int4 0.46, int3 0.65, int2 1.6,
            // int3r 1.41, int2r 1.25).
            let meanBound: Float = [.int4: 1, .int3: 1.3, .int2: 3, .int3r: 2.5, .int2r: 2.5][codec] ?? 0.6
            XCTAssertLessThanOrEqual(a.meanAbs, meanBound, "\(codec)")
            guard [.fp16, .int8].contains(codec) else { continue }
            XCTAssertEqual(Sampler.argmax(Array(got.suffix(vocab))), Sampler.argmax(Array(expected.suffix(vocab))), "\(codec)")
        }
    }

    func testSparsePaperMemoryRoundTripsThroughTheStoreOnTheRealModel() throws {
        let (model, tokenizer, file) = try SmolLM2.load()
        let fingerprint = ModelFingerprint.of(file)
        let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: .paper)
        let fresh = try encoder.encode(Self.reference)
        XCTAssertEqual(fresh.layers, Array(0 ..< 15))
        XCTAssertEqual(fresh.kvHeadCount, 3)
        XCTAssertEqual(fresh.tokenCount, encoder.prefixTokens.count + 8)
        let decoded = try storeAndReload(fresh, codec: .fp16, profile: MemoryProfile.paper.name, fingerprint: fingerprint)
        XCTAssertEqual(decoded.positions, fresh.positions)
        XCTAssertLessThanOrEqual(maxAbsoluteDifference(decoded.keys, fresh.keys), fresh.keys.map(abs).max()! / 1024)
    }

    /// Memories written with one tiny model are refused when read with another.
    func testMemoriesWrittenByOneModelAreRefusedByAnother() throws {
        var factoryA = TinyLlamaFactory()
        factoryA.name = "tiny-a"
        var factoryB = TinyLlamaFactory()
        factoryB.name = "tiny-b"
        factoryB.seed = 99
        let a = try factoryA.make(), b = try factoryB.make()
        let fingerprintA = ModelFingerprint.of(a.file), fingerprintB = ModelFingerprint.of(b.file)
        XCTAssertNotEqual(fingerprintA, fingerprintB)
        let memory = try MemoryEncoder(model: a.model, tokenizer: a.tokenizer).encode("A short reference.")
        XCTAssertNoThrow(try storeAndReload(memory, codec: .int8, profile: "dense", fingerprint: fingerprintA))
        XCTAssertThrowsError(try storeAndReload(memory, codec: .int8, profile: "dense", fingerprint: fingerprintA,
                                                readFingerprint: fingerprintB)) {
            XCTAssertEqual($0 as? MemoryCodecError, .modelMismatch(expected: fingerprintB, found: fingerprintA))
        }
    }
}
