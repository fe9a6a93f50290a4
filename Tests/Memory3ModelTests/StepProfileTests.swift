import Memory3TestSupport
@testable import Memory3Model
import XCTest

/// `memory3 bench --profile`'s timers: a forward step with a profile active records every phase
/// it runs, and the phases it does not run (sampling is the caller's) stay at zero.
final class StepProfileTests: XCTestCase {
    func testForwardRecordsEachPhaseOfTheStep() throws {
        let model = try TinyLlamaFactory().makeModel(threads: 1)
        let profile = StepProfile()
        StepProfile.active = profile
        defer { StepProfile.active = nil }
        profile.start()
        _ = try model.forward([3, 17, 42, 5], cache: model.makeCache(capacity: 8))
        StepProfile.active = nil
        for phase in StepProfile.Phase.allCases where phase != .sampling {
            XCTAssertGreaterThan(profile.seconds(phase), 0, "\(phase)")
        }
        XCTAssertEqual(profile.seconds(.sampling), 0)
    }
}
