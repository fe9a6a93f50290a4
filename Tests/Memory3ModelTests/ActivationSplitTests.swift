import Foundation
@testable import Memory3Model
import XCTest

/// The activations of a prompt are split across threads (past `parallelActivationMinimum`
/// elements); a chunk must not move an element between a kernel's vector body and its scalar tail,
/// or the bits would depend on the thread count (they did for SwiGLU before chunks started on
/// multiples of 16). Counts of tokens x SmolLM2's 1,536 and odd ones.
final class ActivationSplitTests: XCTestCase {
    func testSwiGLUAndGeGLUGiveTheSameBitsOnOneThreadAndOnSeveral() {
        var generator = SeededGenerator(seed: 31)
        for count in [27 * 1536, 40_003, 16_384, 100_001] {
            let gate = (0 ..< count).map { _ in Float.random(in: -12 ... 12, using: &generator) }
            let up = (0 ..< count).map { _ in Float.random(in: -2 ... 2, using: &generator) }
            for geGLU in [false, true] {
                var results: [[UInt32]] = []
                for threads in [1, 2, 3] {
                    var g = gate
                    g.withUnsafeMutableBufferPointer { p in
                        if geGLU { DecoderBlocks.geGLU(p.baseAddress!, up, count: count, threads: threads) }
                        else { DecoderBlocks.swiGLU(p.baseAddress!, up, count: count, threads: threads) }
                    }
                    results.append(g.map(\.bitPattern))
                }
                for t in 1 ... 2 {
                    let first = results[t].indices.first { results[t][$0] != results[0][$0] }
                    XCTAssertNil(first, "count \(count), GeGLU \(geGLU): \(t + 1) threads differ first at element \(first ?? -1)")
                }
            }
        }
    }
}
