import Memory3Model
import Synchronization

/// Key/values of finished sequences, kept so that a new request whose prompt starts with tokens
/// one of them read can skip reading those again (multi-turn chat re-sends the whole history
/// every turn). Bounded by bytes; the least recently used entry goes first.
public final class PromptCache: Sendable {
    /// How a cache's key/values were computed: only a request read the same way may reuse them.
    enum ReadKind: Hashable, Sendable {
        /// No memory (off and text modes): keys from position 0.
        case plain
        /// Explicit memory with k memories per chunk by a retriever (nil: the source's default): keys
        /// from the policy's context offset, and each chunk's values depend on the memories it read.
        case explicit(k: Int, retriever: RetrieverKind?)
    }

    struct Entry: @unchecked Sendable {
        let kind: ReadKind
        let cache: KVCache
        /// The tokens in `cache`, in order.
        let tokens: [Int]
        /// What each chunk read (explicit memory only).
        let readings: [ChunkReading]
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Entry] = []
        var bytes = 0
        var clock: UInt64 = 0
        var hits = 0
        var reusedTokens = 0
    }

    public let budgetBytes: Int
    private let state = Mutex(State())

    public init(budgetBytes: Int) {
        self.budgetBytes = budgetBytes
    }

    /// Bytes of key/values held.
    public var bytes: Int { state.withLock { $0.bytes } }
    public var entryCount: Int { state.withLock { $0.entries.count } }

    /// Keeps a finished sequence's key/values (dropped at once when they alone exceed the budget).
    func put(_ kind: ReadKind, cache: KVCache, tokens: [Int], readings: [ChunkReading]) {
        guard !tokens.isEmpty, tokens.count == cache.count, cache.byteCount <= budgetBytes else { return }
        state.withLock { s in
            s.clock += 1
            s.entries.append(Entry(kind: kind, cache: cache, tokens: tokens, readings: readings, lastUse: s.clock))
            s.bytes += cache.byteCount
            while s.bytes > budgetBytes, let oldest = s.entries.indices.min(by: { s.entries[$0].lastUse < s.entries[$1].lastUse }) {
                s.bytes -= s.entries[oldest].cache.byteCount
                s.entries.remove(at: oldest)
            }
        }
    }

    /// Takes out the entry of `kind` that `reusable` scores highest (tokens of `prompt` it can
    /// serve), if it serves at least one.
    func take(_ kind: ReadKind, reusable: (Entry) -> Int) -> (entry: Entry, tokens: Int)? {
        state.withLock { s in
            var best: (index: Int, tokens: Int)?
            for (i, entry) in s.entries.enumerated() where entry.kind == kind {
                let n = reusable(entry)
                if n > (best?.tokens ?? 0) { best = (i, n) }
            }
            guard let best else { return nil }
            let entry = s.entries.remove(at: best.index)
            s.bytes -= entry.cache.byteCount
            s.hits += 1
            s.reusedTokens += best.tokens
            return (entry, best.tokens)
        }
    }

    /// Lookups that reused a prefix, and the prompt tokens they did not read again.
    public var statistics: (hits: Int, reusedTokens: Int) { state.withLock { ($0.hits, $0.reusedTokens) } }

    /// Forgets every entry (the knowledge base changed in a way a check cannot see, tests).
    public func removeAll() {
        state.withLock { s in
            s.entries.removeAll()
            s.bytes = 0
        }
    }
}

extension PromptCache.Entry {
    /// How many leading tokens `tokens` shares with this entry.
    func commonPrefix(with prompt: [Int]) -> Int {
        var n = 0
        let limit = min(tokens.count, prompt.count)
        while n < limit && tokens[n] == prompt[n] { n += 1 }
        return n
    }
}
