/// Byte-pair merging inside one word, on token ids. The word starts as one symbol per byte; the
/// adjacent pair with the lowest merge rank (the leftmost among equals) is merged until no pair
/// has a rank. A min-heap of candidate pairs keeps long words (a paragraph of CJK is one "word")
/// at O(n log n); stale candidates are dropped when popped, as in llama.cpp.
struct BPEMerger: Sendable {
    /// Rank and result of each merge, keyed by `pairKey(left, right)`: `rank << 32 | merged`.
    private let rules: [UInt64: UInt64]
    /// The token for each single byte; -1 when the vocabulary lacks it.
    private let byteTokens: [Int32]

    struct Rule: Sendable {
        let left: Int
        let right: Int
        let merged: Int
        /// Position in the GGUF merge list: lower merges first.
        let rank: Int
    }

    /// A pair listed twice keeps its first (best) rank, as llama.cpp's `bpe_ranks.emplace` does.
    init(rules ruleList: [Rule], byteTokens: [Int]) {
        var rules: [UInt64: UInt64] = [:]
        rules.reserveCapacity(ruleList.count)
        for rule in ruleList {
            let key = Self.pairKey(Int32(rule.left), Int32(rule.right))
            let value = UInt64(rule.rank) << 32 | UInt64(rule.merged)
            if let existing = rules[key], existing >> 32 <= UInt64(rule.rank) { continue }
            rules[key] = value
        }
        self.rules = rules
        self.byteTokens = byteTokens.map { Int32($0) }
    }

    /// Reusable buffers for one `encode` call (not shared between threads).
    struct Scratch {
        var tokens: [Int32] = []
        var previous: [Int32] = []
        var next: [Int32] = []
        var heap: [UInt64] = []
    }

    /// Merges the word `bytes` and appends its tokens. Bytes the vocabulary lacks are dropped,
    /// as llama.cpp drops them (they also block merges across them).
    func merge(_ bytes: UnsafeBufferPointer<UInt8>, into output: inout [Int], scratch: inout Scratch) {
        let count = bytes.count
        if count == 0 { return }
        if count == 1 {
            let token = byteTokens[Int(bytes[0])]
            if token >= 0 { output.append(Int(token)) }
            return
        }
        scratch.tokens.removeAll(keepingCapacity: true)
        scratch.previous.removeAll(keepingCapacity: true)
        scratch.next.removeAll(keepingCapacity: true)
        scratch.heap.removeAll(keepingCapacity: true)
        for i in 0..<count {
            scratch.tokens.append(byteTokens[Int(bytes[i])])
            scratch.previous.append(Int32(i - 1))
            scratch.next.append(i + 1 < count ? Int32(i + 1) : -1)
        }
        for i in 0..<(count - 1) { pushCandidate(left: i, scratch: &scratch) }

        while let entry = popMinimum(&scratch.heap) {
            let left = Int(entry & 0xFFFF_FFFF)
            let rank = entry >> 32
            let right = Int(scratch.next[left])
            // Stale: the left symbol was absorbed (token -2), has no right neighbour any more, or
            // one side changed so that the pair is no longer this merge.
            guard scratch.tokens[left] != -2, right >= 0,
                  let rule = rules[Self.pairKey(scratch.tokens[left], scratch.tokens[right])],
                  rule >> 32 == rank else { continue }
            scratch.tokens[left] = Int32(truncatingIfNeeded: rule & 0xFFFF_FFFF)
            scratch.tokens[right] = -2
            let afterRight = scratch.next[right]
            scratch.next[left] = afterRight
            if afterRight >= 0 { scratch.previous[Int(afterRight)] = Int32(left) }
            let before = Int(scratch.previous[left])
            if before >= 0 { pushCandidate(left: before, scratch: &scratch) }
            if afterRight >= 0 { pushCandidate(left: left, scratch: &scratch) }
        }

        var i = 0
        while i >= 0 {
            let token = scratch.tokens[i]
            if token >= 0 { output.append(Int(token)) }
            i = Int(scratch.next[i])
        }
    }

    private func pushCandidate(left: Int, scratch: inout Scratch) {
        let right = Int(scratch.next[left])
        guard right >= 0, let rule = rules[Self.pairKey(scratch.tokens[left], scratch.tokens[right])] else { return }
        // Ordered by rank, then by position: the leftmost of equally ranked pairs merges first.
        pushHeap(&scratch.heap, (rule >> 32) << 32 | UInt64(left))
    }

    @inline(__always) private static func pairKey(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    private func pushHeap(_ heap: inout [UInt64], _ value: UInt64) {
        heap.append(value)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if heap[parent] <= heap[child] { break }
            heap.swapAt(parent, child)
            child = parent
        }
    }

    private func popMinimum(_ heap: inout [UInt64]) -> UInt64? {
        guard let last = heap.popLast() else { return nil }
        if heap.isEmpty { return last }
        let minimum = heap[0]
        heap[0] = last
        var parent = 0
        let count = heap.count
        while true {
            let left = 2 * parent + 1
            if left >= count { break }
            var smallest = left
            if left + 1 < count && heap[left + 1] < heap[left] { smallest = left + 1 }
            if heap[parent] <= heap[smallest] { break }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
        return minimum
    }
}
