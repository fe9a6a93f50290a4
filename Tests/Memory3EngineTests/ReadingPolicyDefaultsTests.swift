import Memory3Engine
import Memory3Model
import XCTest

/// A model with sliding-window layers reads its context right after the memory window; a model
/// with global attention everywhere keeps the paper's offset.
final class ReadingPolicyDefaultsTests: XCTestCase {
    func config(slidingWindow: Int?) -> DecoderConfig {
        DecoderConfig(architecture: "test", vocabularySize: 10, embeddingLength: 8, layerCount: 2, headCount: 2,
                      kvHeadCount: 1, headDim: 4, contextLength: 2048, slidingWindow: slidingWindow)
    }

    func testGlobalAttentionKeepsTheDefaultOffset() {
        XCTAssertEqual(MemoryReadingPolicy.defaults(for: config(slidingWindow: nil)).contextOffset, MemoryReadingPolicy().contextOffset)
    }

    func testASlidingWindowModelStartsItsContextRightAfterTheMemories() {
        let policy = MemoryReadingPolicy.defaults(for: config(slidingWindow: 512))
        XCTAssertEqual(policy.contextOffset, 128)
        XCTAssertEqual(policy.memoriesPerChunk, MemoryReadingPolicy().memoriesPerChunk)
    }
}
