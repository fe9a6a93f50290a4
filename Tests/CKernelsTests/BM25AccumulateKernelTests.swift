import CKernels
import XCTest

/// The BM25 candidate pass in C (LexicalIndex.accumulate) against the Swift loop it replaced:
/// the same partial sums bit for bit, the same slots touched in the same order, the cells left
/// zeroed (the index's search ranks identically only if all three hold).
final class BM25AccumulateKernelTests: XCTestCase {
    /// The Swift loop as it was: term at a time, a slot noted when its sum was 0.
    func reference(_ terms: [(slots: [UInt32], counts: [UInt16], weight: Float)], norms: [Float]) -> (touched: [UInt32], sums: [Float]) {
        var cells = norms.map { SIMD2<Float>(0, $0) }
        var touched: [UInt32] = []
        for term in terms {
            for j in term.slots.indices {
                let slot = Int(term.slots[j]), tf = Float(term.counts[j])
                let cell = cells[slot]
                if cell.x == 0 { touched.append(UInt32(slot)) }
                cells[slot].x = cell.x + term.weight * tf / (tf + cell.y)
            }
        }
        return (touched, touched.map { cells[Int($0)].x })
    }

    func testTheKernelsSumAndTouchAsTheSwiftLoopDid() {
        var g = SeededGenerator(seed: 25)
        for slotsCount in [1, 17, 1000, 40_000] {
            let norms = (0 ..< slotsCount).map { _ in Float.random(in: 0.3 ... 3, using: &g) }
            // Terms of every density, each posting list ascending as the index keeps them.
            let terms: [(slots: [UInt32], counts: [UInt16], weight: Float)] = (0 ..< 12).map { t in
                let density = [0.001, 0.05, 0.5, 1.0][t % 4]
                let slots = (0 ..< slotsCount).filter { _ in Double.random(in: 0 ..< 1, using: &g) < density }.map(UInt32.init)
                let counts = slots.map { _ in UInt16.random(in: 1 ... 9, using: &g) }
                return (slots, counts, Float.random(in: 0.01 ... 8, using: &g))
            }
            let want = reference(terms, norms: norms)
            var cells: [Float] = norms.flatMap { [Float(0), $0] }
            // Room for one slot a posting, and 16 more that must stay untouched.
            let room = terms.reduce(0) { $0 + $1.slots.count }
            var touched = [UInt32](repeating: .max, count: room + 16)
            var count = 0
            for term in terms {
                count = m3_bm25_accumulate(term.slots, term.counts, term.slots.count, term.weight, &cells, &touched, count)
            }
            XCTAssert(touched.dropFirst(room).allSatisfy { $0 == .max }, "nothing written past the room given")
            XCTAssert(Array(touched.prefix(count)) == want.touched, "\(slotsCount) slots: touched \(count), want \(want.touched.count), in order")
            var sums = [Float](repeating: -1, count: count)
            m3_bm25_collect(&cells, touched, count, &sums)
            let differing = zip(sums, want.sums).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(differing, 0, "\(slotsCount) slots: partial sums differing in their bits")
            XCTAssert(stride(from: 0, to: cells.count, by: 2).allSatisfy { cells[$0] == 0 }, "every partial sum is zeroed again")
            XCTAssert(stride(from: 1, to: cells.count, by: 2).map { cells[$0] } == norms, "the norms are left as they were")
        }
    }
}
