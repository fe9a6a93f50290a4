import Memory3TestSupport
import Foundation
import GGUF
import Memory3Model
import Tokenizer
import XCTest

/// Gemma 3 270M (Q4_K_M: Q8_0, Q5_0, Q4_K, Q6_K tensors; SentencePiece vocabulary of 262,144)
/// against llama.cpp: token ids, teacher-forced logits, greedy continuations
/// (Tests/Fixtures/gemma3-reference.json, made by `scripts/make-reference.py --model gemma3`).
final class Gemma3AgreementTests: XCTestCase {
    nonisolated(unsafe) static var loaded: (Gemma3Model, Tokenizer)?

    func model() throws -> (Gemma3Model, Tokenizer) {
        if let l = Self.loaded { return l }
        let file = try GGUFFile(path: try TestPaths.requireGemma3())
        let l = (try Gemma3Model(file: file), try Tokenizer(gguf: file))
        Self.loaded = l
        return l
    }

    func reference() throws -> LlamaReference { try LlamaReference.load("gemma3-reference.json") }

    func testTheFixtureIsForThisFile() throws {
        let path = try TestPaths.requireGemma3()
        let reference = try reference()
        XCTAssertEqual(reference.model_sha256, "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818")
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: resolved)[.size] as? Int, 253_113_024)
    }

    func testTokenIdsEqualLlamaCppOnEveryFixtureString() throws {
        let (_, tokenizer) = try model()
        let cases = try reference().tokenize
        XCTAssertGreaterThan(cases.count, 80)
        for entry in cases {
            XCTAssertEqual(tokenizer.encode(entry.text, parseSpecial: entry.special, addBOS: false), entry.ids,
                           "text \(entry.text.debugDescription), special \(entry.special)")
        }
        for greedy in try reference().greedy {
            XCTAssertEqual(tokenizer.encode(greedy.prompt, parseSpecial: greedy.special), greedy.prompt_ids, "BOS first")
        }
    }

    func testDecodeWithoutControlTokensMatchesLlamaCpp() throws {
        let (_, tokenizer) = try model()
        for entry in try reference().tokenize {
            let visible = entry.ids.filter { !tokenizer.isControl($0) }
            XCTAssertEqual(tokenizer.decode(visible), entry.detokenized, "text \(entry.text.debugDescription)")
        }
    }

    /// llama.cpp itself differs between its batched and its single-token paths (top-1 96.4%,
    /// perplexity 16.15 vs 16.06: other summation orders in its batched matrix kernels); ours
    /// follows its single-token arithmetic (fp16 key/value cache and queries; Q8_K activations for
    /// K-quants), so the bar is held against that path and the batched one is reported beside it.
    /// Measured: 94.7% top-1 (342 of 361; every miss a near-tie, llama.cpp's top-2 gap < 0.36)
    /// and perplexity 15.95 vs 16.06 (0.7%) with the AVX2 and AVX-VNNI kernels; 93.9% (339 of
    /// 361) and perplexity 16.067 (0.05%) where the AVX-512 packed kernels multiplied the Q8_0
    /// tensors with the code offset in floats; with the panel kernel (2026-12-04): 92.8% doing the
    /// same, 94.5% and 15.99 taking the Q8_0 offset off in integers, 93.4% (337 of 361) and 15.90
    /// (1.0%; 1.5% from the batched path) once it also multiplies the Q5_0 matrices (exact integer
    /// products each time; only the order of the float sums moves). Each is another rounding of
    /// the same sums, and activations quantized to 8 bits turn a rounding into a code step, so
    /// near-ties flip either way and perplexity moves by ~1% between kernel paths. What a real
    /// regression (a wrong norm, RoPE or kernel) does instead is disagree where llama.cpp is
    /// sure: so the bars are every miss a near-tie (llama.cpp's top-2 gap under 0.5; measured
    /// at most 0.30), top-1 >= 92% (a wrong norm or RoPE gives < 80%), and perplexity within 1.5%
    /// of llama.cpp's single-token path and 2% of its batched one. The 95% lies within
    /// llama.cpp's own spread.
    func testTeacherForcedTopOneDisagreesOnlyAtNearTiesAndPerplexityAgrees() throws {
        let (model, _) = try model()
        let fixture = try reference()
        let sequential = try XCTUnwrap(fixture.teacher_forcing_sequential)
        XCTAssertEqual(sequential.ids, fixture.teacher_forcing.ids)
        XCTAssertGreaterThan(sequential.ids.count, 300)
        let ours = try RealModelAgreementTests.teacherForcing(model, sequential)
        let batched = try RealModelAgreementTests.teacherForcing(model, fixture.teacher_forcing)
        print("Gemma 3 teacher forcing vs llama.cpp one token at a time: top-1 \(ours.top1), perplexity \(ours.perplexity) vs \(sequential.perplexity), "
              + "widest llama.cpp top-2 gap where top-1 differs \(ours.widestMissGap); "
              + "vs its batched path: top-1 \(batched.top1), perplexity \(fixture.teacher_forcing.perplexity)")
        XCTAssertLessThan(ours.widestMissGap, 0.5, "a position where llama.cpp is sure disagrees")
        XCTAssertGreaterThanOrEqual(ours.top1, 0.92)
        XCTAssertEqual(ours.perplexity, sequential.perplexity, accuracy: sequential.perplexity * 0.015)
        XCTAssertEqual(ours.perplexity, fixture.teacher_forcing.perplexity, accuracy: fixture.teacher_forcing.perplexity * 0.02)
    }

    func testGreedyContinuationsEqualLlamaCppUntilANearTie() throws {
        let (model, _) = try model()
        var compared = 0
        for greedy in try reference().greedy {
            let cache = model.makeCache(capacity: greedy.prompt_ids.count + greedy.ids.count + 1)
            var logits = try model.forward(greedy.prompt_ids, cache: cache)
            for (step, expected) in greedy.ids.enumerated() {
                if greedy.top2_gaps[step] < 0.3 { break }  // a near-tie that rounding may flip
                let ours = RealModelAgreementTests.argmax(logits[...])
                XCTAssertEqual(ours, expected, "prompt \(greedy.prompt.debugDescription), step \(step)")
                if ours != expected { break }
                compared += 1
                logits = try model.forward([expected], cache: cache)
            }
        }
        print("Gemma 3 greedy steps compared before a near-tie: \(compared)")
        XCTAssertGreaterThanOrEqual(compared, 20)
    }
}
