/// Feeds tokens into a context and returns the next-token logits. The generation loop is written
/// once against this; a plain KV cache and the explicit-memory context both implement it.
public protocol ContextFeeder: AnyObject {
    /// Reads the prompt; returns the logits after its last token.
    func feedPrompt(_ tokens: [Int]) throws -> [Float]
    /// Appends one generated token; returns the logits after it.
    func feedGenerated(_ token: Int) throws -> [Float]
    /// Tokens the context can still take.
    var remainingCapacity: Int { get }
}

/// A context that is just the model and a KV cache.
public final class PlainContext: ContextFeeder {
    public let model: LlamaModel
    public let cache: KVCache

    public init(model: LlamaModel, capacity: Int) {
        self.model = model
        self.cache = model.makeCache(capacity: capacity)
    }

    public func feedPrompt(_ tokens: [Int]) throws -> [Float] {
        try model.forward(tokens, cache: cache)
    }

    public func feedGenerated(_ token: Int) throws -> [Float] {
        try model.forward([token], cache: cache)
    }

    public var remainingCapacity: Int { cache.capacity - cache.count }
}
