import XCTest
@testable import GGUF

/// `Dequantize.run` agrees with an independent implementation (the `gguf` Python package). The
/// tolerance is 1e-6 relative (zeros exact); at the time of writing the two agree bit for bit.
final class DequantizeReferenceTests: XCTestCase {
    static let referenceTypes: [GGMLType] = [.f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .iq4_nl, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K]

    func testEveryTypeMatchesTheGGUFPythonReferenceWithin1e6Relative() throws {
        let fixture = try QuantReferenceFixture.load()
        XCTAssertEqual(Set(fixture.entries.keys), Set(Self.referenceTypes.map(\.name)))
        for type in Self.referenceTypes {
            let entry = try XCTUnwrap(fixture.entries[type.name], type.name)
            let raw = entry.raw
            XCTAssertEqual(raw.count % type.blockBytes, 0, type.name)
            let values = dequantize(raw, as: type)
            XCTAssertEqual(values.count, entry.floats.count, type.name)
            for (i, (got, want)) in zip(values, entry.floats).enumerated() {
                XCTAssertLessThanOrEqual(abs(got - want), 1e-6 * abs(want), "\(type.name) element \(i): \(got) vs \(want)")
            }
        }
    }

    func testF32IsCopiedBitForBit() {
        let floats: [Float] = [0, -0, 1.5, -.infinity, .greatestFiniteMagnitude, .leastNonzeroMagnitude]
        let values = dequantize(Quantize.blocks(floats, as: .f32), as: .f32)
        XCTAssertEqual(values.map(\.bitPattern), floats.map(\.bitPattern))
    }
}
