import Memory3TestSupport
@testable import Memory3Model
import XCTest

/// RoPE's angles are computed once per forward step (`Rope.rotations`) and every layer applies
/// them: that must rotate as computing each angle where it is used did (the llama.cpp agreement
/// rests on it), for both pairings, partial rotary dims and every row of a batch.
final class RopeTests: XCTestCase {
    /// The rotation as it was written before the table: each angle in Double, then cos and sin.
    func reference(_ v: [Float], rope: Rope, heads: Int, position: Int) -> [Float] {
        var out = v
        let pairs = rope.rotaryDims / 2
        for i in 0 ..< pairs {
            let angle = Double(position) * Double(rope.inverseFrequencies[i])
            let c = Float(cos(angle)), s = Float(sin(angle))
            let (first, second) = rope.pairing == .adjacent ? (2 * i, 2 * i + 1) : (i, i + pairs)
            for h in 0 ..< heads {
                let a = out[h * rope.headDim + first], b = out[h * rope.headDim + second]
                out[h * rope.headDim + first] = a * c - b * s
                out[h * rope.headDim + second] = a * s + b * c
            }
        }
        return out
    }

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
            var table = [Float](repeating: .nan, count: 4 * rope.rotaryDims)
            rope.rotations(sequences, positionOf: position, into: &table)
            for s in sequences {
                for t in 0 ..< s.tokens {
                    let v = (0 ..< 48).map { _ in Float.random(in: -3 ... 3, using: &random) }
                    var byTable = v
                    rope.apply(&byTable, heads: 3, rotations: table, row: s.row + t)
                    let want = reference(v, rope: rope, heads: 3, position: position(s, t))
                    XCTAssertEqual(byTable.map(\.bitPattern), want.map(\.bitPattern), "row \(s.row + t)")
                    XCTAssertNotEqual(byTable, v, "a rotation happened")
                }
            }
        }
    }
}
