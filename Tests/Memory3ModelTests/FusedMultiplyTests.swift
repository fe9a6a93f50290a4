import Memory3TestSupport
import GGUF
@testable import Memory3Model
import XCTest

/// `WeightMatrix.multiply` over several matrices (one quantization, one parallel loop) gives each
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
                var fused = separate
                for (i, m) in matrices.enumerated() {
                    separate[i].withUnsafeMutableBufferPointer { y in
                        m.multiply(x, tokens: tokens, into: y.baseAddress!, blocks: blocks, threads: 2)
                    }
                }
                let outputs = fused.indices.map { i in
                    UnsafeMutablePointer<Float>.allocate(capacity: fused[i].count)
                }
                defer { outputs.forEach { $0.deallocate() } }
                WeightMatrix.multiply(Array(zip(matrices, outputs)).map { (matrix: $0.0, into: $0.1) }, x, tokens: tokens,
                                      blocks: blocks, threads: 2)
                for i in fused.indices { fused[i] = Array(UnsafeBufferPointer(start: outputs[i], count: fused[i].count)) }
                XCTAssertEqual(fused, separate, "\(type), \(tokens) tokens")
                XCTAssert(fused.allSatisfy { $0.allSatisfy(\.isFinite) })
            }
        }
    }
}
