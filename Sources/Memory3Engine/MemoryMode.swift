/// How a request uses the knowledge base.
public enum MemoryMode: String, Sendable, Codable, CaseIterable {
    /// Explicit memory: every 64-token chunk attends to the key/values of its retrieved references.
    case explicit
    /// Classic RAG: the retrieved references' text is put before the prompt.
    case text
    /// No retrieval.
    case off
}
