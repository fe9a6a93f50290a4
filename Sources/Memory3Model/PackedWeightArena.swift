#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Memory for one model's packed weights, in regions the kernel is asked to back with 2 MB pages.
///
/// Why: decode streams every packed weight once per token (SmolLM2: ~98 MB). In 4 KB pages that is
/// ~24,000 pages per token, more than the TLB holds, so the weight loads and their software
/// prefetches keep walking page tables. Linux here gives transparent huge pages only where asked
/// (`/sys/kernel/mm/transparent_hugepage/enabled` = `madvise`), and one matrix of a small model is
/// under 2 MB, so the matrices of a model share regions of 64 MB (a larger matrix gets its own).
/// Where huge pages are not given (another OS, THP off, `M3_HUGE_PAGES=0`), these are plain pages.
final class PackedWeightArena: @unchecked Sendable {
    /// One mapping; unmapped when no packed matrix holds it any more.
    final class Region: @unchecked Sendable {
        let base: UnsafeMutableRawPointer
        let capacity: Int
        private let mapping: UnsafeMutableRawPointer
        private let mappingLength: Int

        init?(capacity requested: Int, hugePages: Bool) {
            let huge = PackedWeightArena.hugePageBytes
            let capacity = (requested + huge - 1) / huge * huge
            // One extra huge page of slack so the region can start on a 2 MB boundary.
            let length = capacity + huge
            guard let mapped = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
                  mapped != MAP_FAILED else { return nil }
            let aligned = (Int(bitPattern: mapped) + huge - 1) / huge * huge
            base = UnsafeMutableRawPointer(bitPattern: aligned)!
            self.capacity = capacity
            mapping = mapped
            mappingLength = length
            #if os(Linux)
            // Before the first touch, so the pages are faulted in large.
            if hugePages { _ = madvise(base, capacity, 14 /* MADV_HUGEPAGE */) }
            #endif
        }

        deinit { munmap(mapping, mappingLength) }
    }

    /// A slice of a region; keeps its region mapped.
    struct Allocation: @unchecked Sendable {
        let region: Region
        let base: UnsafeMutableRawPointer
    }

    static let hugePageBytes = 2 << 20
    static let regionBytes = 64 << 20
    /// `M3_HUGE_PAGES=0` asks for plain pages (to measure the difference, or on a host where
    /// compaction at load is unwelcome).
    static var hugePagesWanted: Bool {
        guard let value = getenv("M3_HUGE_PAGES") else { return true }
        return String(cString: value) != "0"
    }

    private struct Cursor {
        var region: Region?
        var used = 0
    }
    private let cursor = Mutex(Cursor())
    private let hugePages: Bool

    init(hugePages: Bool = PackedWeightArena.hugePagesWanted) {
        self.hugePages = hugePages
    }

    /// `bytes` bytes aligned to 64, or nil when the system gives no memory.
    func allocate(_ bytes: Int) -> Allocation? {
        let size = (max(bytes, 1) + 63) / 64 * 64
        if size > Self.regionBytes / 2 {
            guard let own = Region(capacity: size, hugePages: hugePages) else { return nil }
            return Allocation(region: own, base: own.base)
        }
        return cursor.withLock { c -> Allocation? in
            if c.region == nil || c.used + size > c.region!.capacity {
                guard let fresh = Region(capacity: Self.regionBytes, hugePages: hugePages) else { return nil }
                c.region = fresh
                c.used = 0
            }
            let region = c.region!
            defer { c.used += size }
            return Allocation(region: region, base: region.base + c.used)
        }
    }
}
