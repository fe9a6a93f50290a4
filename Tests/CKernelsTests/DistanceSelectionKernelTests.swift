import CKernels
import XCTest

/// The dense prefilter's histogram of Hamming distances and its selection of the nearest
/// (`EmbeddingIndex.hammingNearest`), on every kernel path: the counts added to what was there,
/// the indices at most a cut-off in order (across whole 16-lane blocks, blocks without one, and a
/// tail), and nothing written past the exact room the histogram says is needed.
final class DistanceSelectionKernelTests: KernelTestCase {
    func testHistogramAndSelectionOnEveryPath() {
        var g = SeededGenerator(seed: 12)
        for count in [0, 1, 3, 15, 16, 17, 2049, 5000] {
            let values = (0 ..< count).map { _ in UInt16.random(in: 150 ... 234, using: &g) }
            for bins in [385, 2000] {  // with partial counts, and past their width straight into the counts
                var want = [UInt32](repeating: 1, count: bins)
                for v in values { want[Int(v)] += 1 }
                onEachPath { path in
                    var histogram = [UInt32](repeating: 1, count: bins)
                    m3_u16_histogram(values, count, &histogram, Int32(bins))
                    XCTAssertEqual(histogram, want, "\(count) values, \(bins) bins, \(path): added to the counts given")
                }
            }
            for cutoff in [0, 180, 192, 384] {
                let expected = values.indices.filter { Int(values[$0]) <= cutoff }.map(UInt32.init)
                onEachPath { path in
                    let sentinel = UInt32.max
                    var out = [UInt32](repeating: sentinel, count: expected.count + 16)
                    let kept = m3_u16_indices_at_most(values, count, UInt16(cutoff), &out)
                    XCTAssertEqual(kept, expected.count, "\(count) values, cut-off \(cutoff), \(path)")
                    XCTAssertEqual(Array(out.prefix(expected.count)), expected, "\(count) values, cut-off \(cutoff), \(path)")
                    XCTAssert(out.dropFirst(expected.count).allSatisfy { $0 == sentinel },
                              "\(count) values, cut-off \(cutoff), \(path): nothing written past the room needed")
                }
            }
        }
    }
}
