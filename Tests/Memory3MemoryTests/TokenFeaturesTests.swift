import Memory3Model
@testable import Memory3Memory
import XCTest

/// The token features the sparse scorers rank by, against a naive recomputation.
final class TokenFeaturesTests: XCTestCase {
    /// Two query heads share one KV head; 5 tokens, 1 of them prefix; random queries and keys.
    func testAttentionFeaturesMatchANaiveCausalSoftmaxAveragedOverTheGroup() {
        var random = SeededGenerator(seed: 7)
        let n = 5, p = 1, heads = 2, d = 4, scale: Float = 0.8
        let queries = (0 ..< n * heads * d).map { _ in random.nextUnitFloat() * 4 - 2 }
        let keys = (0 ..< n * d).map { _ in random.nextUnitFloat() * 4 - 2 }
        let values = (0 ..< n * d).map { _ in random.nextUnitFloat() * 2 - 1 }
        let surprise: [Float] = [0.5, 3, 1, 7]
        var raw: [Float] = []
        TokenFeatures.appendRawRows(queries: queries, scoreScale: scale, rowKeys: keys[...], rowValues: values[...],
                                    tokens: n, prefix: p, headCount: heads, kvHeadCount: 1, headDim: d,
                                    surprise: surprise, into: &raw)
        XCTAssertEqual(raw.count, (n - p) * TokenFeatures.count)

        // attention[h][i][j] for j <= i.
        var attention = [[[Float]]](repeating: [[Float]](repeating: [Float](repeating: 0, count: n), count: n), count: heads)
        for h in 0 ..< heads {
            for i in 0 ..< n {
                var logits: [Float] = []
                for j in 0 ... i {
                    var dot: Float = 0
                    for x in 0 ..< d { dot += queries[i * heads * d + h * d + x] * keys[j * d + x] }
                    logits.append(dot * scale)
                }
                let top = logits.max()!
                var sum: Float = 0
                for l in logits { sum += exp(l - top) }
                for j in 0 ... i { attention[h][i][j] = exp(logits[j] - top) / sum }
            }
        }
        for j in p ..< n {
            let row = Array(raw[(j - p) * TokenFeatures.count ..< (j - p + 1) * TokenFeatures.count])
            var received: [Float] = []
            for h in 0 ..< heads { for i in j ..< n { received.append(attention[h][i][j]) } }
            XCTAssertEqual(row[TokenFeatures.Feature.meanAttention.rawValue], received.reduce(0, +) / Float(heads * (n - j)), accuracy: 1e-5)
            XCTAssertEqual(row[TokenFeatures.Feature.peakAttention.rawValue], received.max()!, accuracy: 1e-6)
            // Every query here is among the last 16.
            XCTAssertEqual(row[TokenFeatures.Feature.recentAttention.rawValue], received.reduce(0, +) / Float(heads), accuracy: 1e-5)
            var keySquares: Float = 0, valueSquares: Float = 0
            for x in 0 ..< d {
                keySquares += keys[j * d + x] * keys[j * d + x]
                valueSquares += values[j * d + x] * values[j * d + x]
            }
            XCTAssertEqual(row[TokenFeatures.Feature.keyNorm.rawValue], keySquares.squareRoot(), accuracy: 1e-5)
            XCTAssertEqual(row[TokenFeatures.Feature.valueNorm.rawValue], valueSquares.squareRoot(), accuracy: 1e-5)
            XCTAssertEqual(row[TokenFeatures.Feature.surprise.rawValue], surprise[j - p])
            XCTAssertEqual(row[TokenFeatures.Feature.position.rawValue], Float(j - p) / Float(n - p - 1))
        }
    }

    func testStandardisingGivesMeanZeroDeviationOneAndZeroForAConstant() {
        let c = TokenFeatures.count, body = 6
        var raw = (0 ..< 2 * body * c).map { i in i % c == 0 ? 3 : Float((i * 7919) % 13) }
        TokenFeatures.standardise(&raw, rows: 2, bodyTokens: body)
        for row in 0 ..< 2 {
            for f in 0 ..< c {
                let column = (0 ..< body).map { raw[(row * body + $0) * c + f] }
                let mean = column.reduce(0, +) / Float(body)
                XCTAssertEqual(mean, 0, accuracy: 1e-5)
                if f == 0 {
                    XCTAssertEqual(column, [Float](repeating: 0, count: body))
                } else {
                    let variance = column.reduce(0) { $0 + $1 * $1 } / Float(body)
                    XCTAssertEqual(variance, 1, accuracy: 1e-4)
                }
            }
        }
    }

    /// Surprise of token t is -log softmax(logits[t - 1])[token t]; nothing before the first.
    func testSurpriseIsTheNegativeLogProbabilityFromTheTokenBefore() {
        let vocabulary = 3
        let logits: [Float] = [0, 0, 0, 2, 0, -1, 5, 5, 5]
        let tokens = [1, 2, 0]
        let surprise = MemoryEncoder.surprise(of: tokens, logits: logits, prefix: 0, vocabulary: vocabulary)
        XCTAssertEqual(surprise[0], 0)
        XCTAssertEqual(surprise[1], log(3), accuracy: 1e-6)
        XCTAssertEqual(surprise[2], -(2 - log(exp(2) + 1 + exp(-1))), accuracy: 1e-5)
        XCTAssertEqual(MemoryEncoder.surprise(of: tokens, logits: logits, prefix: 1, vocabulary: vocabulary), [surprise[1], surprise[2]])
    }
}
