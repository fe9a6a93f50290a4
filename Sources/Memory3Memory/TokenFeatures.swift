import Foundation

/// What a learned scorer knows about each body token of a reference, per (memory layer, KV head)
/// row: signals of the attention the model paid while it read the reference (NAMM's idea: a
/// token's future use shows in how it has been attended), its key and value, and how surprising
/// it was. Each feature is standardised within its row (mean 0, deviation 1), so one set of
/// weights serves every layer and head (and, NAMM found, other models).
public struct TokenFeatures: Sendable {
    public enum Feature: Int, CaseIterable, Sendable {
        /// Mean attention received from the reference's later tokens (causal, with RoPE, as the
        /// model read it; H2O's accumulated score divided by how many queries could see the token).
        case meanAttention
        /// Attention received from the last `recentQueries` tokens (what is still being looked at).
        case recentAttention
        /// The largest attention any later token paid it (a token one head fetched once).
        case peakAttention
        case keyNorm
        case valueNorm
        /// -log p(token | the text before it): invented names and numbers are surprising.
        case surprise
        /// Token index / (body tokens - 1).
        case position
    }

    public static let count = Feature.allCases.count
    /// Queries counted as recent.
    public static let recentQueries = 16

    /// Rows (memory layer slot x KV head), body tokens per row.
    public let rows: Int
    public let bodyTokens: Int
    /// [rows][bodyTokens][count], standardised per row and feature.
    public let values: [Float]

    public init(rows: Int, bodyTokens: Int, values: [Float]) {
        precondition(values.count == rows * bodyTokens * Self.count)
        self.rows = rows
        self.bodyTokens = bodyTokens
        self.values = values
    }

    /// Scores of one row's body tokens under `weights` (one per feature).
    public func scores(row: Int, weights: [Float]) -> [Float] {
        precondition(weights.count == Self.count)
        return (0 ..< bodyTokens).map { t in
            let base = (row * bodyTokens + t) * Self.count
            var sum: Float = 0
            for f in 0 ..< Self.count { sum += weights[f] * values[base + f] }
            return sum
        }
    }

    /// Computes the features of one memory layer. `queries` are that layer's queries as attention
    /// read them ([tokens][headCount * headDim], `scoreScale` turning a dot product into a logit),
    /// `rowKeys`/`rowValues` its cache rows ([kvHeadCount][tokens][headDim]), `surprise` the
    /// per-token surprise of the body. Appends `kvHeadCount` rows of raw (unstandardised) features.
    static func appendRawRows(queries: [Float], scoreScale: Float, rowKeys: ArraySlice<Float>, rowValues: ArraySlice<Float>,
                              tokens n: Int, prefix p: Int, headCount: Int, kvHeadCount: Int, headDim d: Int,
                              surprise: [Float], into out: inout [Float]) {
        let body = n - p
        let group = headCount / kvHeadCount
        var mean = [Float](repeating: 0, count: body), recent = mean, peak = mean
        var probabilities = [Float](repeating: 0, count: n)
        let keyBase = rowKeys.startIndex, valueBase = rowValues.startIndex
        rowKeys.withUnsafeBufferPointer { keys in
            queries.withUnsafeBufferPointer { q in
                for g in 0 ..< kvHeadCount {
                    for i in 0 ..< body { mean[i] = 0; recent[i] = 0; peak[i] = 0 }
                    let k = keys.baseAddress! + g * n * d
                    for h in g * group ..< (g + 1) * group {
                        for i in p ..< n {
                            // Causal softmax of query i over keys 0...i (prefix included, as the model reads).
                            let qi = q.baseAddress! + i * headCount * d + h * d
                            var best = -Float.infinity
                            for j in 0 ... i {
                                probabilities[j] = TokenRanking.dot(qi, k + j * d, count: d) * scoreScale
                                best = max(best, probabilities[j])
                            }
                            var sum: Float = 0
                            for j in 0 ... i { probabilities[j] = expf(probabilities[j] - best); sum += probabilities[j] }
                            let inverse = 1 / sum
                            let isRecent = i >= n - recentQueries
                            for j in p ... i {
                                let a = probabilities[j] * inverse
                                mean[j - p] += a
                                peak[j - p] = max(peak[j - p], a)
                                if isRecent { recent[j - p] += a }
                            }
                        }
                    }
                    for j in 0 ..< body {
                        let t = p + j
                        let kOffset = keyBase + (g * n + t) * d, vOffset = valueBase + (g * n + t) * d
                        var keyNorm: Float = 0, valueNorm: Float = 0
                        for x in 0 ..< d {
                            keyNorm += rowKeys[kOffset + x] * rowKeys[kOffset + x]
                            valueNorm += rowValues[vOffset + x] * rowValues[vOffset + x]
                        }
                        out.append(mean[j] / Float(group * (n - t)))
                        out.append(recent[j] / Float(group))
                        out.append(peak[j])
                        out.append(keyNorm.squareRoot())
                        out.append(valueNorm.squareRoot())
                        out.append(surprise[j])
                        out.append(body > 1 ? Float(j) / Float(body - 1) : 0)
                    }
                }
            }
        }
    }

    /// Standardises raw rows in place: per row and feature, mean 0 and deviation 1 (a constant
    /// feature becomes 0).
    static func standardise(_ raw: inout [Float], rows: Int, bodyTokens: Int) {
        let c = count
        for r in 0 ..< rows {
            for f in 0 ..< c {
                var sum: Double = 0, squares: Double = 0
                for t in 0 ..< bodyTokens { let v = Double(raw[(r * bodyTokens + t) * c + f]); sum += v; squares += v * v }
                let mean = sum / Double(bodyTokens)
                let deviation = (max(0, squares / Double(bodyTokens) - mean * mean)).squareRoot()
                for t in 0 ..< bodyTokens {
                    let i = (r * bodyTokens + t) * c + f
                    raw[i] = deviation > 1e-9 ? Float((Double(raw[i]) - mean) / deviation) : 0
                }
            }
        }
    }
}
