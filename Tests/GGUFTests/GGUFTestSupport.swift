import Foundation
import XCTest
@testable import GGUF

/// The repository root: this file is Tests/GGUFTests/GGUFTestSupport.swift.
let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A deterministic generator (SplitMix64) so random tests fail the same way every run.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomFloats(_ count: Int, in range: ClosedRange<Float>, using rng: inout SeededGenerator) -> [Float] {
    (0 ..< count).map { _ in Float.random(in: range, using: &rng) }
}

func randomBytes(_ count: Int, using rng: inout SeededGenerator) -> [UInt8] {
    (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
}

/// Parses `bytes` and fails the test unless the parse throws exactly `expected`.
func XCTAssertParseFails(_ bytes: [UInt8], with expected: GGUFError, file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertThrowsError(try GGUFFile(bytes: bytes), file: file, line: line) { error in
        XCTAssertEqual(error as? GGUFError, expected, file: file, line: line)
    }
}

extension Array where Element == UInt8 {
    /// The offset of the first occurrence of `needle` (a name written into a test file).
    func offset(of needle: String) -> Int {
        let n = Array(needle.utf8)
        for i in 0 ... (count - n.count) where Array(self[i ..< i + n.count]) == n { return i }
        preconditionFailure("'\(needle)' is not in the file")
    }

    /// Overwrites the little-endian bytes of `value` at `offset`.
    mutating func patch<T: FixedWidthInteger>(_ value: T, at offset: Int) {
        Swift.withUnsafeBytes(of: value.littleEndian) { replaceSubrange(offset ..< offset + $0.count, with: $0) }
    }
}

/// A scratch directory removed when the test case ends.
func temporaryDirectory(for test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("GGUFTests-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}
