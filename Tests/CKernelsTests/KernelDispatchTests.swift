import GGUF
import CKernels
import Foundation
import XCTest

final class KernelDispatchTests: XCTestCase {
    override func tearDown() {
        m3_kernels_force_scalar(0)
        super.tearDown()
    }

    func testForcingScalarSwitchesTheDispatch() {
        let best = m3_kernels_use_avx2()
        m3_kernels_force_scalar(1)
        XCTAssertEqual(m3_kernels_use_avx2(), 0)
        m3_kernels_force_scalar(0)
        XCTAssertEqual(m3_kernels_use_avx2(), best)
    }

    /// The "best" path of the other tests really is AVX2 wherever the CPU has AVX2, FMA and F16C
    /// (read from /proc/cpuinfo on Linux), so those tests exercise both kernel sets.
    func testBestPathIsAVX2WhenTheCPUHasAVX2FMAAndF16C() throws {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no /proc/cpuinfo to read the CPU's features from")
        }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let hasAll = flags.isSuperset(of: ["avx2", "fma", "f16c"])
        XCTAssertEqual(m3_kernels_use_avx2(), hasAll ? 1 : 0, "flags: avx2 \(flags.contains("avx2")) fma \(flags.contains("fma")) f16c \(flags.contains("f16c"))")
    }
}

final class VNNIKernelTests: KernelTestCase {
    /// The VNNI and AVX2 dots sum the same integer products exactly, so they agree bit for bit.
    func testVNNIAndAVX2DotsAgreeExactly() throws {
        m3_kernels_limit_level(Int32(M3_LEVEL_VNNI))
        guard m3_kernels_level() == Int32(M3_LEVEL_VNNI) else { throw XCTSkip("this CPU has no AVX-VNNI") }
        var g = SeededGenerator(seed: 77)
        for type in [GGMLType.q4_0, .q4_1, .q8_0] {
            for blocks in [1, 3, 18] {
                let columns = blocks * 32
                let weights = KernelFixtures.weights(type, rows: 5, columns: columns, rawBytes: true, using: &g)
                let x = KernelFixtures.activations(blocks: blocks * 4, using: &g)
                for tokens in 1 ... 4 {
                    var vnni = [Float](repeating: 0, count: tokens * 5), avx2 = vnni
                    m3_kernels_limit_level(Int32(M3_LEVEL_VNNI))
                    weights.withUnsafeBytes { w in x.withUnsafeBufferPointer { xb in
                        m3_matmul(Int32(type.rawValue), w.baseAddress!, type.byteCount(elements: columns)!, 0, 5,
                                  xb.baseAddress!, Int32(blocks), Int32(tokens), &vnni, 5)
                    } }
                    m3_kernels_limit_level(Int32(M3_LEVEL_AVX2))
                    weights.withUnsafeBytes { w in x.withUnsafeBufferPointer { xb in
                        m3_matmul(Int32(type.rawValue), w.baseAddress!, type.byteCount(elements: columns)!, 0, 5,
                                  xb.baseAddress!, Int32(blocks), Int32(tokens), &avx2, 5)
                    } }
                    XCTAssertEqual(vnni, avx2, "\(type.name), \(blocks) blocks, \(tokens) tokens")
                }
            }
        }
    }
}
