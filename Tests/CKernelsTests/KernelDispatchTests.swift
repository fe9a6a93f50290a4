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
