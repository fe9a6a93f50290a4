/// One turn of a conversation, as chat templates and the OpenAI-style API see it.
public struct ChatMessage: Sendable, Codable, Equatable {
    /// "system", "user" or "assistant" (ChatML writes any role verbatim).
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}
