@testable import Memory3Model
import Memory3TestSupport
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

final class ProbePassTests: XCTestCase {
    func testAProbePassRecordsTheSameMassAsAFullForwardAndLeavesTheCacheAlone() throws {
        let model = try TinyLlamaFactory().makeModel()
        let prefixCache = model.makeCache(capacity: 32)
        _ = try model.forward([3, 17, 42, 5, 5, 29], cache: prefixCache)
        let memory = [prefixCache.segment(tokens: 0 ..< 3), prefixCache.segment(tokens: 3 ..< 6)]

        let full = AttentionProbe(layers: [1])
        let reference = model.makeCache(capacity: 8, positionOffset: 6)
        let expected = try model.forward([9, 10], cache: reference, memory: memory, logits: .all, probe: full)

        let partial = AttentionProbe(layers: [1])
        let cache = model.makeCache(capacity: 8, positionOffset: 6)
        try model.probeAttention([9, 10], cache: cache, memory: memory, probe: partial, throughLayer: 1)
        XCTAssertEqual(cache.count, 0)
        for head in 0 ..< model.config.headCount {
            XCTAssertEqual(partial.mass(layer: 1, head: head), full.mass(layer: 1, head: head))
        }
        let after = try model.forward([9, 10], cache: cache, memory: memory, logits: .all)
        XCTAssertEqual(after, expected, "the probe pass leaves nothing behind")
    }
}
