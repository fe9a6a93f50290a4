import Memory3TestSupport
import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model
import Synchronization
import Tokenizer

/// A tiny tokenizer for the tiny model: one token per lowercase letter or space, no merges.
func tinyTokenizer(vocabulary: Int = 48) throws -> Tokenizer {
    var tokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    for scalar in "abcdefghijklmnopqrstuvwxyz" { tokens.append(String(scalar)) }
    tokens.append("Ġ")
    while tokens.count < vocabulary { tokens.append("x\(tokens.count)") }
    let types = tokens.indices.map { $0 < 3 ? 3 : 1 }
    return try Tokenizer(tokens: tokens, tokenTypes: types, merges: [], preTokenizer: .smollm,
                         bosTokenId: nil, eosTokenId: 2, addBOS: false)
}

/// Memories made by running the tiny model over fixed token strings (prefix token first, like the
/// encoder's "Reference:"), served by id; retrieval returns a scripted list per call.
final class FakeMemorySource: MemorySource, @unchecked Sendable {
    let memories: [Int64: EncodedMemory]
    private let script: @Sendable (Int, String) -> [RetrievedReference]
    private let log = Mutex<[String]>([])

    init(model: LlamaModel, references: [Int64: [Int]], script: @escaping @Sendable (Int, String) -> [RetrievedReference]) throws {
        var memories: [Int64: EncodedMemory] = [:]
        for (id, tokens) in references {
            let cache = model.makeCache(capacity: tokens.count)
            _ = try model.forward(tokens, cache: cache, logits: .none)
            let segment = cache.segment(tokens: 0 ..< tokens.count)
            let c = model.config
            let positions = (0 ..< c.layerCount * c.kvHeadCount).flatMap { _ in (0 ..< tokens.count).map(Int32.init) }
            memories[id] = EncodedMemory(layers: segment.layers, kvHeadCount: c.kvHeadCount, headDim: c.headDim,
                                         tokenCount: tokens.count, prefixTokenCount: 1, positions: positions,
                                         keys: segment.keys, values: segment.values)
        }
        self.memories = memories
        self.script = script
    }

    var queries: [String] { log.withLock { $0 } }

    func retrieve(_ query: String, limit: Int, retriever: RetrieverKind?) throws -> [RetrievedReference] {
        let call = log.withLock { log -> Int in
            log.append(query)
            return log.count - 1
        }
        return Array(script(call, query).prefix(limit))
    }

    func memory(for referenceId: Int64) throws -> EncodedMemory {
        guard let m = memories[referenceId] else { throw MemoryEngineError.missingReference(referenceId) }
        return m
    }

    func text(for referenceId: Int64) throws -> String { "ref\(referenceId)" }
}
