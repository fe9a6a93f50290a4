import CKernels
import Foundation
import XCTest

final class GeGLUKernelTests: KernelTestCase {
    static func gelu(_ x: Float) -> Float {
        0.5 * x * (1 + tanhf(0.79788456080286535587989211986876 * x * (1 + 0.044715 * x * x)))
    }

    /// GGML's evaluation per element: the input rounded to fp16, GELU, the result rounded to fp16;
    /// 0 at or below -10, the identity at or above 10.
    static func expected(_ x: Float, _ up: Float) -> Float {
        let g: Float = x <= -10 ? 0 : x >= 10 ? x : Float(Float16(gelu(Float(Float16(x)))))
        return g * up
    }

    let table: [Float] = (0 ... UInt16.max).map { Float(Float16(GeGLUKernelTests.gelu(Float(Float16(bitPattern: $0))))) }

    /// Bit for bit GGML's numbers, on every dispatch path, at every length (vector body and tail).
    func testTheLookupEqualsGGMLsPerElementEvaluationOnEveryPath() {
        var g = SeededGenerator(seed: 17)
        onEachPath { path in
            for n in [1, 7, 8, 9, 31, 640, 2051] {
                var gate = (0 ..< n).map { _ in Float.random(in: -12 ... 12, using: &g) }
                let edges: [Float] = [-10, 10, -10.001, 9.999, 0, -0.0, 1e-8, -3.0e-5, 65504, -70000]
                for (i, e) in edges.enumerated() where i < n { gate[i] = e }
                let up = (0 ..< n).map { _ in Float.random(in: -2 ... 2, using: &g) }
                let want = zip(gate, up).map { Self.expected($0, $1) }
                table.withUnsafeBufferPointer { m3_geglu_fp16_table(&gate, up, n, $0.baseAddress!) }
                for i in 0 ..< n {
                    XCTAssertEqual(gate[i].bitPattern, want[i].bitPattern, "\(path), n \(n), i \(i): \(gate[i]) vs \(want[i])")
                }
            }
        }
    }

    /// A table that is not GELU gives other numbers: the kernel reads the table it is given.
    func testTheKernelReadsTheGivenTable() {
        onEachPath { path in
            let doubled = table.map { $0 * 2 }
            var gate: [Float] = Array(repeating: 1.5, count: 9)
            doubled.withUnsafeBufferPointer { m3_geglu_fp16_table(&gate, Array(repeating: 1, count: 9), 9, $0.baseAddress!) }
            XCTAssertEqual(gate[0], 2 * Self.expected(1.5, 1), "\(path)")
            XCTAssertEqual(gate[8], 2 * Self.expected(1.5, 1), "\(path)")
        }
    }
}
