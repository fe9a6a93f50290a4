import Memory3TestSupport
import GGUF
import Memory3Memory
import XCTest

final class ModelFingerprintTests: XCTestCase {
    func testFingerprintIsStableHexSHA256() throws {
        let a = ModelFingerprint.of(try TinyLlamaFactory().makeFile())
        let b = ModelFingerprint.of(try TinyLlamaFactory().makeFile())
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 64)
        XCTAssertTrue(a.allSatisfy { "0123456789abcdef".contains($0) })
    }

    func testMetadataOrShapeChangesTheFingerprint() throws {
        let base = ModelFingerprint.of(try TinyLlamaFactory().makeFile())
        var renamed = TinyLlamaFactory()
        renamed.name = "other"
        var deeper = TinyLlamaFactory()
        deeper.layers = 5
        var requantized = TinyLlamaFactory()
        requantized.weightType = .q4_0
        for other in [renamed, deeper, requantized] {
            XCTAssertNotEqual(ModelFingerprint.of(try other.makeFile()), base)
        }
    }

    func testSHA256MatchesAKnownVector() {
        XCTAssertEqual(ModelFingerprint.sha256Hex(Array("abc".utf8)),
                       "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    func testRealModelFingerprintTakesMilliseconds() throws {
        let path = try TestPaths.requireSmolLM2()
        let file = try GGUFFile(path: path)
        let start = Date()
        let fingerprint = ModelFingerprint.of(file)
        let seconds = Date().timeIntervalSince(start)
        XCTAssertEqual(fingerprint.count, 64)
        XCTAssertLessThan(seconds, 1, "fingerprint took \(seconds) s")
    }
}
