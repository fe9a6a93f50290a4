import Memory3TestSupport
import GGUF
@testable import Memory3Model
import XCTest

/// `MatrixGroup.multiply` (one quantization, one parallel loop over several matrices) gives each
/// product exactly as its own `multiply` does.
final class FusedMultiplyTests: XCTestCase {
    func testFusedProductsEqualSeparateOnesBitForBit() throws {
        for type in [GGMLType.q4_1, .q8_0, .q4_0, .f32] {
            var factory = TinyLlamaFactory()
            factory.weightType = type
            let model = try factory.makeModel(threads: 2)
            let layer = model.weights.layers[0]
            for tokens in [1, 5] {
                let columns = layer.query.columns
                var generator = SeededGenerator(seed: 7)
                let x = (0 ..< tokens * columns).map { _ in Float.random(in: -2 ... 2, using: &generator) }
                let matrices = [layer.query, layer.key, layer.value, layer.gate, layer.up]
                let blocks = ActivationBuffers(capacity: tokens * columns / 32)
                var separate = matrices.map { [Float](repeating: .nan, count: tokens * $0.rows) }
                for (i, m) in matrices.enumerated() {
                    separate[i].withUnsafeMutableBufferPointer { y in
                        m.multiply(x, tokens: tokens, into: y.baseAddress!, blocks: blocks, threads: 2)
                    }
                }
                let outputs = matrices.map { UnsafeMutablePointer<Float>.allocate(capacity: tokens * $0.rows) }
                defer { outputs.forEach { $0.deallocate() } }
                let qkv = MatrixGroup(layer.query, layer.key, layer.value), gateUp = MatrixGroup(layer.gate, layer.up)
                XCTAssertEqual(qkv.fused, layer.query.packed != nil, "\(type): packed rows fuse")
                qkv.multiply(x, tokens: tokens, into: outputs[0], outputs[1], outputs[2], blocks: blocks, threads: 2)
                gateUp.multiply(x, tokens: tokens, into: outputs[3], outputs[4], blocks: blocks, threads: 2)
                let fused = matrices.indices.map { Array(UnsafeBufferPointer(start: outputs[$0], count: tokens * matrices[$0].rows)) }
                XCTAssertEqual(fused, separate, "\(type), \(tokens) tokens")
                XCTAssert(fused.allSatisfy { $0.allSatisfy(\.isFinite) })
            }
        }
    }
}
