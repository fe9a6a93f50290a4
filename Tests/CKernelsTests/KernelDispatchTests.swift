import CKernels
import XCTest

final class KernelDispatchTests: XCTestCase {
    func testForcingScalarSwitchesTheDispatch() {
        let best = m3_kernels_use_avx2()
        m3_kernels_force_scalar(1)
        XCTAssertEqual(m3_kernels_use_avx2(), 0)
        m3_kernels_force_scalar(0)
        XCTAssertEqual(m3_kernels_use_avx2(), best)
    }
}
