@testable import Memory3Model
import XCTest

final class AttentionProbeTests: XCTestCase {
    func testProbeRecordsMassPerSegmentOnlyForChosenHeads() throws {
        let model = try TinyLlamaFactory().makeModel()
        let prefixCache = model.makeCache(capacity: 32)
        _ = try model.forward([3, 17, 42, 5, 5, 29, 0, 11], cache: prefixCache)
        let visible = prefixCache.segment(tokens: 0 ..< 4)
        var hidden = prefixCache.segment(tokens: 4 ..< 8)
        hidden.logitBias = -1e4

        let probe = AttentionProbe(layers: [1], heads: [2])
        _ = try model.forward([9, 10, 12], cache: model.makeCache(capacity: 8, positionOffset: 8),
                              memory: [visible, hidden], probe: probe)
        let rows = try XCTUnwrap(probe.mass(layer: 1, head: 2))
        XCTAssertEqual(rows.count, 3)
        for row in rows {
            XCTAssertEqual(row.count, 2)
            XCTAssertGreaterThan(row[0], 0.01)
            XCTAssertLessThan(row[0], 1)
            XCTAssertEqual(row[1], 0, accuracy: 1e-6, "a segment biased by -1e4 gets no attention")
        }
        XCTAssertNil(probe.mass(layer: 0, head: 2))
        XCTAssertNil(probe.mass(layer: 1, head: 1))
        let mean = try XCTUnwrap(probe.meanMass(layer: 1, head: 2))
        XCTAssertEqual(mean[0], rows.map { $0[0] }.reduce(0, +) / 3, accuracy: 1e-6)
    }

    func testProbeDoesNotChangeTheLogits() throws {
        let model = try TinyLlamaFactory().makeModel()
        let prefixCache = model.makeCache(capacity: 32)
        _ = try model.forward([3, 17, 42, 5], cache: prefixCache)
        let segment = prefixCache.segment(tokens: 0 ..< 4)
        let plain = try model.forward([9, 10], cache: model.makeCache(capacity: 8, positionOffset: 4), memory: [segment], logits: .all)
        let probed = try model.forward([9, 10], cache: model.makeCache(capacity: 8, positionOffset: 4), memory: [segment],
                                       logits: .all, probe: AttentionProbe())
        XCTAssertEqual(plain, probed)
    }
}
