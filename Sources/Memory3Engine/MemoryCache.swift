import Synchronization

/// A least-recently-used cache bounded by a byte budget; thread-safe. Decoded memories are large
/// (a dense 128-token reference of SmolLM2 is ~6 MB as floats), so the budget counts bytes.
final class LRUCache<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private struct Entry {
        var value: Value
        var bytes: Int
        var lastUse: UInt64
    }

    private struct State {
        var entries: [Key: Entry] = [:]
        var bytes = 0
        var clock: UInt64 = 0
        var hits = 0
        var misses = 0
    }

    let budgetBytes: Int
    private let state = Mutex(State())

    init(budgetBytes: Int) {
        self.budgetBytes = budgetBytes
    }

    func value(for key: Key) -> Value? {
        state.withLock { s in
            s.clock += 1
            guard var entry = s.entries[key] else {
                s.misses += 1
                return nil
            }
            s.hits += 1
            entry.lastUse = s.clock
            s.entries[key] = entry
            return entry.value
        }
    }

    func insert(_ value: Value, bytes: Int, for key: Key) {
        state.withLock { s in
            s.clock += 1
            if let old = s.entries[key] { s.bytes -= old.bytes }
            s.entries[key] = Entry(value: value, bytes: bytes, lastUse: s.clock)
            s.bytes += bytes
            // Evict the least recently used until within budget (keep at least the new entry).
            while s.bytes > budgetBytes, s.entries.count > 1,
                  let oldest = s.entries.min(by: { $0.value.lastUse < $1.value.lastUse }) {
                s.bytes -= oldest.value.bytes
                s.entries.removeValue(forKey: oldest.key)
            }
        }
    }

    var statistics: (hits: Int, misses: Int, entries: Int, bytes: Int) {
        state.withLock { ($0.hits, $0.misses, $0.entries.count, $0.bytes) }
    }
}
