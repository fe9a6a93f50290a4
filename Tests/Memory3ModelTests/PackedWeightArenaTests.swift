import Memory3TestSupport
@testable import Memory3Model
import XCTest

/// The packed weights' memory: slices that do not overlap, regions on 2 MB boundaries, and the
/// same products whether or not the kernel was asked for huge pages.
final class PackedWeightArenaTests: XCTestCase {
    func testSlicesAreAlignedDisjointAndShareRegions() throws {
        for hugePages in [true, false] {
            let arena = PackedWeightArena(hugePages: hugePages)
            let sizes = [1, 100, 4096, 186_624, 3 << 20, 40 << 20, 64]
            let slices = try sizes.map { try XCTUnwrap(arena.allocate($0)) }
            for (slice, size) in zip(slices, sizes) {
                XCTAssertEqual(Int(bitPattern: slice.base) % 64, 0)
                XCTAssertEqual(Int(bitPattern: slice.region.base) % PackedWeightArena.hugePageBytes, 0)
                XCTAssert(slice.base >= slice.region.base && slice.base + size <= slice.region.base + slice.region.capacity)
                memset(slice.base, 0xAB, size)  // every byte writable
            }
            let ranges = zip(slices, sizes).map { Int(bitPattern: $0.base) ..< Int(bitPattern: $0.base) + $1 }
            for i in ranges.indices { for j in ranges.indices where i < j { XCTAssertFalse(ranges[i].overlaps(ranges[j])) } }
            // Small matrices share one region; one over half a region gets its own.
            XCTAssert(slices[0].region === slices[1].region && slices[1].region === slices[3].region)
            XCTAssert(slices[5].region !== slices[0].region)
            XCTAssertEqual(slices[5].region.capacity, 40 << 20)
        }
    }

    func testModelsWithAndWithoutHugePagesComputeTheSameLogits() throws {
        var logits: [[Float]] = []
        for wanted in ["1", "0"] {
            setenv("M3_HUGE_PAGES", wanted, 1)
            defer { unsetenv("M3_HUGE_PAGES") }
            let model = try TinyLlamaFactory().makeModel(threads: 2)
            logits.append(try model.forward([1, 5, 9, 2], cache: model.makeCache(capacity: 8)))
        }
        XCTAssertEqual(logits[0], logits[1])
        XCTAssert(logits[0].allSatisfy(\.isFinite))
    }
}
