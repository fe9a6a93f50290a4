/// One reference cut from a document: at most `maxReferenceTokens` tokens of text that is
/// encoded and stored as a unit.
public struct ReferenceChunk: Sendable, Equatable {
    /// Position in the document, from 0.
    public let ordinal: Int
    /// What is encoded and stored: the carried heading line (when the reference does not start
    /// with its section's heading), a newline, then `content`.
    public let text: String
    /// The exact slice of the input this reference covers (`byteRange` of its UTF-8).
    public let content: String
    /// The Markdown heading carried in front of `content`, if any.
    public let heading: String?
    /// Tokens of `text` (the model's tokenizer, special tokens not parsed).
    public let tokenCount: Int
    /// Where `content` lies in the input's UTF-8 bytes.
    public let byteRange: Range<Int>
}

/// What kind of text a document is, which decides whether headings are recognized.
public enum TextFormat: String, Sendable, Equatable {
    case plain
    case markdown
    /// One reference holding the whole text, not cut (the eval's references, each already a
    /// reference-sized passage).
    case wholeText = "whole"

    /// Markdown for .md/.markdown, plain text otherwise.
    public init(pathExtension: String) {
        switch pathExtension.lowercased() {
        case "md", "markdown", "mdown", "mkd": self = .markdown
        default: self = .plain
        }
    }
}
