@testable import Memory3Model
import XCTest

final class SamplerTests: XCTestCase {
    let logits: [Float] = [1.0, 3.0, 2.5, -1.0, 0.5, 2.9, -3.0, 0.0]

    func draws(_ parameters: SamplingParameters, count: Int = 200) -> [Int] {
        var sampler = Sampler(parameters)
        return (0 ..< count).map { _ in
            var l = logits
            return sampler.sample(&l, history: [])
        }
    }

    func testGreedyPicksTheLargestLogit() {
        XCTAssertEqual(Set(draws(.greedy, count: 10)), [1])
    }

    func testSameSeedGivesTheSameSequenceAndAnotherSeedDiffers() {
        var p = SamplingParameters()
        p.temperature = 1.5
        p.topK = 0
        p.topP = 1
        p.minP = 0
        p.seed = 42
        XCTAssertEqual(draws(p), draws(p))
        var q = p
        q.seed = 43
        XCTAssertNotEqual(draws(p), draws(q))
        XCTAssertEqual(Sampler(p).seed, 42)
    }

    func testTopKOneIsGreedyAndTopKLimitsTheChoices() {
        var p = SamplingParameters()
        p.temperature = 2
        p.topK = 1
        p.seed = 1
        XCTAssertEqual(Set(draws(p)), [1])
        p.topK = 3
        p.topP = 1
        p.minP = 0
        XCTAssertEqual(Set(draws(p, count: 2000)), [1, 5, 2])
    }

    func testTopPKeepsTheSmallestSetReachingP() {
        // softmax of the logits: token 1 ~ 0.34, token 5 ~ 0.31, token 2 ~ 0.21 ...
        var p = SamplingParameters()
        p.temperature = 1
        p.topK = 0
        p.minP = 0
        p.topP = 0.5
        p.seed = 3
        XCTAssertEqual(Set(draws(p, count: 2000)), [1, 5])
    }

    func testMinPDropsUnlikelyTokens() {
        var p = SamplingParameters()
        p.temperature = 1
        p.topK = 0
        p.topP = 1
        p.minP = 0.5  // keeps tokens with probability >= half of the best: 1, 5, 2 (e^-0.5 = 0.61)
        p.seed = 4
        XCTAssertEqual(Set(draws(p, count: 2000)), [1, 5, 2])
    }

    func testDrawsFollowTheSoftmaxDistribution() {
        var p = SamplingParameters()
        p.temperature = 1
        p.topK = 0
        p.topP = 1
        p.minP = 0
        p.seed = 9
        let n = 40000
        let samples = draws(p, count: n)
        let expected = Sampler.softmax(logits, temperature: 1)
        for token in logits.indices {
            let observed = Double(samples.filter { $0 == token }.count) / Double(n)
            XCTAssertEqual(observed, Double(expected[token]), accuracy: 0.01, "token \(token)")
        }
    }

    func testLowTemperatureConcentratesOnTheBestToken() {
        var p = SamplingParameters()
        p.temperature = 0.02  // tokens 1 and 5 differ by 0.1: e^5 odds
        p.topK = 0
        p.topP = 1
        p.minP = 0
        p.seed = 5
        let samples = draws(p, count: 500)
        XCTAssertGreaterThan(samples.filter { $0 == 1 }.count, 480)
    }

    func testRepetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
        var p = SamplingParameters.greedy
        p.repetitionPenalty = 2
        let sampler = Sampler(p)
        var l = logits
        sampler.applyPenalties(&l, history: [1, 3])
        XCTAssertEqual(l[1], 1.5)
        XCTAssertEqual(l[3], -2.0)
        XCTAssertEqual(l[2], 2.5)
    }

    func testFrequencyAndPresencePenaltiesCountOccurrencesInTheWindow() {
        var p = SamplingParameters.greedy
        p.frequencyPenalty = 0.5
        p.presencePenalty = 0.25
        p.penaltyWindow = 3
        let sampler = Sampler(p)
        var l = logits
        sampler.applyPenalties(&l, history: [2, 1, 1, 5])  // window: [1, 1, 5]
        XCTAssertEqual(l[1], 3.0 - 1.0 - 0.25)
        XCTAssertEqual(l[5], 2.9 - 0.5 - 0.25, accuracy: 1e-6)
        XCTAssertEqual(l[2], 2.5, "outside the window")
        var greedy = Sampler(p)
        var again = logits
        XCTAssertEqual(greedy.sample(&again, history: [2, 1, 1, 5]), 2)
    }

    func testTopCandidatesAreTheKLargestInOrder() {
        XCTAssertEqual(Sampler.topCandidates(logits, k: 3), [1, 5, 2])
        XCTAssertEqual(Sampler.topCandidates(logits, k: 0), [1, 5, 2, 0, 4, 7, 3, 6])
    }

    func testInvalidParametersAreDescribed() {
        var p = SamplingParameters()
        XCTAssertNil(p.validationError())
        p.topP = 0
        XCTAssertEqual(p.validationError(), "top_p must be in (0, 1]")
        p = SamplingParameters()
        p.temperature = -1
        XCTAssertNotNil(p.validationError())
    }
}

final class StopSequenceMatcherTests: XCTestCase {
    func testStopsBeforeAStopStringSplitAcrossPieces() {
        var m = StopSequenceMatcher(stops: ["\n\nUser:"])
        var out = ""
        for piece in ["Hello", " world", "\n", "\nUs", "er: more"] {
            let (emit, stopped) = m.feed(piece)
            out += emit
            if stopped { break }
        }
        XCTAssertEqual(out, "Hello world")
    }

    func testHeldBackTextIsReleasedWhenItStopsMatching() {
        var m = StopSequenceMatcher(stops: ["END"])
        XCTAssertEqual(m.feed("abcE").emit, "abc")
        XCTAssertEqual(m.feed("N").emit, "")
        let (emit, stopped) = m.feed("x")
        XCTAssertEqual(emit, "ENx")
        XCTAssertFalse(stopped)
        XCTAssertEqual(m.feed("E").emit, "")
        XCTAssertEqual(m.flush(), "E")
    }

    func testEarliestOfSeveralStopsWins() {
        var m = StopSequenceMatcher(stops: ["zz", "b"])
        let (emit, stopped) = m.feed("aazzb")
        XCTAssertEqual(emit, "aa")
        XCTAssertTrue(stopped)
    }

    func testNoStopsPassesEverythingThrough() {
        var m = StopSequenceMatcher(stops: [""])
        XCTAssertEqual(m.feed("abc").emit, "abc")
        XCTAssertEqual(m.flush(), "")
    }
}
