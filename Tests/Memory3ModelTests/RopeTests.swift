import Memory3TestSupport
@testable import Memory3Model
import XCTest

/// RoPE's angles are computed once per forward step (`Rope.rotations`) and every layer applies
/// them: that must rotate exactly as computing them per call did (the llama.cpp agreement rests on
/// it), for both pairings, partial rotary dims and every row of a batch.
final class RopeTests: XCTestCase {
    func testTheStepsTableRotatesEveryRowExactlyAsItsPositionDoes() throws {
        let model = try TinyLlamaFactory().makeModel(threads: 1)
        let caches = [model.makeCache(capacity: 64, positionOffset: 512), model.makeCache(capacity: 64)]
        let sequences = [
            Attention.Sequence(row: 0, tokens: 3, firstIndex: 7, cache: caches[0], memory: [], probe: nil),
            Attention.Sequence(row: 3, tokens: 1, firstIndex: 40, cache: caches[1], memory: [], probe: nil),
        ]
        let position = { (s: Attention.Sequence, t: Int) in s.cache.positionOffset + s.firstIndex + t }
        var random = SystemRandomNumberGenerator()
        for rope in [Rope(headDim: 16, rotaryDims: 16, base: 10_000), Rope(headDim: 16, rotaryDims: 8, base: 1e6, pairing: .halfSplit)] {
            let table = rope.rotations(sequences, positionOf: position)
            for s in sequences {
                for t in 0 ..< s.tokens {
                    let v = (0 ..< 48).map { _ in Float.random(in: -3 ... 3, using: &random) }
                    var byTable = v, byPosition = v
                    rope.apply(&byTable, heads: 3, rotations: table, row: s.row + t)
                    rope.apply(&byPosition, heads: 3, position: position(s, t))
                    XCTAssertEqual(byTable.map(\.bitPattern), byPosition.map(\.bitPattern), "row \(s.row + t)")
                    XCTAssertNotEqual(byTable, v, "a rotation happened")
                }
            }
        }
    }
}
