import Foundation

/// Scores that decide which reference tokens a sparse profile keeps, per KV head.
enum TokenRanking {
    /// The attention each body token receives inside its reference, per KV head: for every query
    /// head of the head's group and every body token as query, a softmax over the body tokens'
    /// keys (no causal mask, no RoPE, the prefix left out), summed. Higher means more attended.
    /// `queries` is [tokens][headCount * headDim], `keys` [tokens][kvHeadCount * headDim], both
    /// before RoPE. Returns [kvHeadCount][tokens - prefix].
    static func attentionReceived(queries: [Float], keys: [Float], tokens n: Int, prefix p: Int,
                                  headCount: Int, kvHeadCount: Int, headDim d: Int) -> [[Float]] {
        let body = n - p
        var received = [[Float]](repeating: [Float](repeating: 0, count: body), count: kvHeadCount)
        guard body > 0 else { return received }
        let group = headCount / kvHeadCount
        let scale = 1 / Float(d).squareRoot()
        var scores = [Float](repeating: 0, count: body)
        queries.withUnsafeBufferPointer { q in
            keys.withUnsafeBufferPointer { k in
                for h in 0 ..< headCount {
                    let g = h / group
                    for i in p ..< n {
                        let qi = q.baseAddress! + i * headCount * d + h * d
                        var maxScore = -Float.infinity
                        for j in 0 ..< body {
                            let kj = k.baseAddress! + (p + j) * kvHeadCount * d + g * d
                            scores[j] = Self.dot(qi, kj, count: d) * scale
                            maxScore = max(maxScore, scores[j])
                        }
                        var sum: Float = 0
                        for j in 0 ..< body {
                            scores[j] = expf(scores[j] - maxScore)
                            sum += scores[j]
                        }
                        let inverse = 1 / sum
                        for j in 0 ..< body { received[g][j] += scores[j] * inverse }
                    }
                }
            }
        }
        return received
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc0 = SIMD8<Float>(), acc1 = SIMD8<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 16 <= count {
            acc0 += ra.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD8<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: 4 * i + 32, as: SIMD8<Float>.self)
            i += 16
        }
        var sum = (acc0 + acc1).sum()
        while i < count {
            sum += a[i] * b[i]
            i += 1
        }
        return sum
    }

    /// Indices of the `count` best of `scores` (higher first, ties to the earlier index), in
    /// ascending order.
    static func top(_ count: Int, of scores: [Float]) -> [Int] {
        let order = scores.indices.sorted { a, b in
            scores[a] != scores[b] ? scores[a] > scores[b] : a < b
        }
        return order.prefix(count).sorted()
    }
}
