import Memory3TestSupport
import Foundation
import GGUF
import Memory3Model
import Tokenizer
import XCTest

/// Tiny random-weight models of qwen2, qwen3 and a Llama 3-style llama, written by
/// scripts/make-arch-fixtures.py with the `gguf` package, each with a real byte-level BPE
/// tokenizer section: llama.cpp's logits and token ids on them (Tests/Fixtures/arch) against ours.
final class ArchitectureAgreementTests: XCTestCase {
    struct Reference: Decodable {
        struct Tokenized: Decodable {
            let text: String
            let ids: [Int]
        }

        struct Model: Decodable {
            let file: String
            let architecture: String
            let pre: String
            let vocab: Int
            let logits: [[Float]]
            let tokenize: [Tokenized]
        }

        let sequence: [Int]
        let models: [String: Model]
    }

    static let folder = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/arch")

    func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: Self.folder.appendingPathComponent("reference.json")))
    }

    /// The fixture's model file. Not in git (no weights are): `make test` writes it, checked
    /// against the sha256 that reference.json was computed on.
    func fixtureFile(_ entry: Reference.Model) throws -> GGUFFile {
        let path = Self.folder.appendingPathComponent(entry.file).path
        guard FileManager.default.fileExists(atPath: path) else { throw MissingFixture(path: path) }
        return try GGUFFile(path: path)
    }

    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fixture = try reference()
        let expected = try XCTUnwrap(fixture.models[name], file: file, line: line)
        let gguf = try fixtureFile(expected)
        let model = try ModelRegistry.load(gguf, threads: 2)
        XCTAssertEqual(model.config.architecture, expected.architecture, file: file, line: line)
        XCTAssertEqual(model.config.vocabularySize, expected.vocab, file: file, line: line)

        let logits = try model.forward(fixture.sequence, cache: model.makeCache(capacity: 64), logits: .all)
        let vocab = expected.vocab
        var worst: Float = 0, scale: Float = 0
        for (t, row) in expected.logits.enumerated() {
            let ours = Array(logits[t * vocab ..< (t + 1) * vocab])
            for (a, b) in zip(ours, row) {
                worst = max(worst, abs(a - b))
                scale = max(scale, abs(b))
            }
            XCTAssertEqual(ours.indices.max { ours[$0] < ours[$1] }, row.indices.max { row[$0] < row[$1] },
                           "\(name): argmax after token \(t)", file: file, line: line)
        }
        print("\(name): max |logit - llama.cpp| = \(worst) (logits up to \(scale))")
        // F32 weights: only summation order and the fp16 roundings differ; a wrong bias, norm,
        // RoPE pairing or frequency factor moves logits by a large share of their range.
        XCTAssertLessThan(worst, 0.01 * scale, "\(name)", file: file, line: line)

        let tokenizer = try Tokenizer(gguf: gguf)
        XCTAssertEqual(tokenizer.preTokenizer?.rawValue, expected.pre, file: file, line: line)
        for entry in expected.tokenize {
            XCTAssertEqual(tokenizer.encode(entry.text, parseSpecial: false, addBOS: false), entry.ids,
                           "\(name): \(entry.text.debugDescription)", file: file, line: line)
        }
    }

    func testQwen2BiasesAndHalfSplitRopeAgreeWithLlamaCpp() throws { try check("qwen2") }
    func testQwen3QueryKeyNormAndKeyLengthAgreeWithLlamaCpp() throws { try check("qwen3") }
    func testLlama3FrequencyFactorsAndPreTokenizerAgreeWithLlamaCpp() throws { try check("llama3") }

    /// Negative control: another model's logits do not pass the same bar.
    func testTheComparisonFailsForAnotherModel() throws {
        let fixture = try reference()
        let qwen2 = try XCTUnwrap(fixture.models["qwen2"]), llama3 = try XCTUnwrap(fixture.models["llama3"])
        let other = try ModelRegistry.load(try fixtureFile(llama3), threads: 1)
        let logits = try other.forward(fixture.sequence, cache: other.makeCache(capacity: 64), logits: .last)
        let last = qwen2.logits.last!
        let worst = zip(logits, last).map { abs($0 - $1) }.max()!
        XCTAssertGreaterThan(worst, 0.01 * last.map(abs).max()!)
    }
}

/// A fixture model that has not been written: a failure that says how to make it.
struct MissingFixture: Error, CustomStringConvertible {
    let path: String
    var description: String {
        "\(path) is missing: run `make test` (it writes the fixture models with scripts/make-arch-fixtures.py --gguf-only)"
    }
}
