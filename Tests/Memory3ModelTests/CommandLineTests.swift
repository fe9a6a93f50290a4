import Foundation
import Memory3TestSupport
import XCTest

/// Runs the built `memory3` executable as a user would.
final class CommandLineTests: XCTestCase {
    func run(_ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        guard Memory3Executable.url != nil else { throw XCTSkip("the memory3 executable was not built beside the tests") }
        return try Memory3Executable.run(arguments, in: TestPaths.repositoryRoot)
    }

    func testGenerateRunsInUnder300MBAndPrintsJSON() throws {
        let model = try TestPaths.requireSmolLM2()
        let r = try run(["generate", "--model", model, "--prompt", "The capital of France is",
                         "--max-tokens", "16", "--temperature", "0", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        XCTAssertTrue((json["text"] as? String ?? "").hasPrefix(" Paris"))
        XCTAssertEqual((json["tokens"] as? [Int])?.count, 16)
        let rss = try XCTUnwrap(json["peak_rss_mb"] as? Double)
        XCTAssertLessThan(rss, 300, "peak RSS \(rss) MB")
    }

    func testTokenizeTreatsControlTokensAsSpecialUnlessToldNot() throws {
        let model = try TestPaths.requireSmolLM2()
        let special = try run(["tokenize", "--model", model, "--text", "<|im_start|>user"])
        XCTAssertEqual(special.status, 0, special.stderr)
        XCTAssertEqual(special.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "[1,4093]")
        let plain = try run(["tokenize", "--model", model, "--text", "<|im_start|>", "--no-special"])
        XCTAssertEqual(plain.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "[44,108,306,79,3738,108,46]")
    }

    func testBenchPrintsTheFourFiguresAsJSON() throws {
        let model = try TestPaths.requireSmolLM2()
        let r = try run(["bench", "--model", model, "--prompt-tokens", "32", "--gen-tokens", "4", "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        for key in ["prefill_tps", "decode_tps", "load_s", "peak_rss_mb"] {
            XCTAssertGreaterThan(json[key] as? Double ?? 0, 0, key)
        }
    }

    func testAMissingModelIsAClearErrorNotACrash() throws {
        let r = try run(["generate", "--model", "/nonexistent/model.gguf", "--prompt", "hi"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains("does not exist"), r.stderr)
        let notGGUF = try run(["generate", "--model", "Package.swift", "--prompt", "hi"])
        XCTAssertEqual(notGGUF.status, 1)
        XCTAssertTrue(notGGUF.stderr.contains("not a GGUF file"), notGGUF.stderr)
    }

    func testInvalidSamplingFlagsAreRejected() throws {
        let r = try run(["generate", "--prompt", "hi", "--top-p", "0"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("top_p"), r.stderr)
    }
}
