import Memory3Memory
import Memory3Model

/// How a sequence's context is read: how many prompt tokens may go into one forward together,
/// which memory segments they attend to, and when memories are swapped. The plain reader has no
/// memory; `MemoryReader` is the Memory3 read.
protocol ContextReader: AnyObject {
    /// RoPE position of context token 0.
    var contextOffset: Int { get }
    /// The segments the next tokens attend to.
    var segments: [MemorySegment] { get }
    /// What each chunk of the context read so far used.
    var records: [ChunkRecord] { get }
    var retrievalSeconds: Double { get }
    /// How many prompt tokens from `index` go into one forward, at most `limit`.
    func promptPiece(from index: Int, promptCount: Int, limit: Int) -> Int
    /// Before prompt tokens `piece` are fed: begins a memory swap when one is due.
    func swapBefore(prompt piece: Range<Int>, of prompt: [Int], retrievable: [Bool]?) throws -> PendingSwap?
    /// Before a generated token is fed: begins a memory swap when one is due.
    func swapBefore(generated token: Int) throws -> PendingSwap?
    /// Finishes a swap once its probe pass (if any) has run.
    func complete(_ swap: PendingSwap)
    /// Tokens went into the cache (`retrievable` nil: all may be queried; `generated`: they
    /// follow the prompt).
    func didFeed(_ tokens: [Int], retrievable: [Bool]?, generated: Bool)
}

/// A context without memory.
final class PlainReader: ContextReader {
    let records: [ChunkRecord]
    let retrievalSeconds: Double
    var contextOffset: Int { 0 }
    var segments: [MemorySegment] { [] }

    /// `records`: what a text-mode (RAG) read retrieved before the prompt, for the report.
    init(records: [ChunkRecord] = [], retrievalSeconds: Double = 0) {
        self.records = records
        self.retrievalSeconds = retrievalSeconds
    }

    func promptPiece(from index: Int, promptCount: Int, limit: Int) -> Int { min(limit, promptCount - index) }
    func swapBefore(prompt piece: Range<Int>, of prompt: [Int], retrievable: [Bool]?) throws -> PendingSwap? { nil }
    func swapBefore(generated token: Int) throws -> PendingSwap? { nil }
    func complete(_ swap: PendingSwap) {}
    func didFeed(_ tokens: [Int], retrievable: [Bool]?, generated: Bool) {}
}

/// A memory swap between its retrieval and its read: the candidates are loaded; when the reader
/// reranks with a retrieval head, `probe` must be run first (a pass through the layers up to the
/// head's, over `probeTokens` with `probeSegments`; the batcher runs these for several sequences
/// together).
final class PendingSwap {
    var record: ChunkRecord
    let hits: [RetrievedReference]
    let memories: [EncodedMemory]
    /// Each memory without its prefix, as every memory but the first-read one is attended.
    let bodies: [MemorySegment]
    /// Whole memories (prefix kept: the shared sink), made at most once each.
    private var wholes: [Int: MemorySegment] = [:]
    let started: Double
    private(set) var probe: AttentionProbe?
    private(set) var probeTokens: [Int] = []
    private(set) var probeSegments: [MemorySegment] = []
    private(set) var probeLayer = 0

    init(record: ChunkRecord, hits: [RetrievedReference], memories: [EncodedMemory], started: Double) {
        self.record = record
        self.hits = hits
        self.memories = memories
        self.bodies = memories.map { $0.segment(dropPrefix: true) }
        self.started = started
    }

    func whole(_ i: Int) -> MemorySegment {
        if let segment = wholes[i] { return segment }
        let segment = memories[i].segment()
        wholes[i] = segment
        return segment
    }

    /// Asks for the rerank pass: `head`'s attention over the candidates (read without bias, the
    /// first keeping its prefix as the sink) while `tokens` are read.
    func requestProbe(head: RetrievalHead, tokens: [Int]) {
        probe = AttentionProbe(layers: [head.layer], heads: [head.head])
        probeTokens = tokens
        probeSegments = [whole(0)] + bodies.dropFirst()
        probeLayer = head.layer
    }
}
