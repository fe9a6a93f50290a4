import Memory3Memory

/// A document as a client uploaded it, checked to be text.
public struct UploadedDocument: Sendable, Equatable {
    public var title: String
    public var source: String
    public var text: String
    /// The uploaded bytes (hashed for deduplication).
    public var bytes: [UInt8]
    public var isMarkdown: Bool
    /// The client's stable key for the document (`external_id`): uploading it again with new text
    /// replaces the stored version.
    public var externalID: String?

    /// Checks that `bytes` are a text document: not empty, no NUL byte, valid UTF-8, not only
    /// whitespace. A UTF-8 byte order mark is dropped from the text.
    public init(title: String, source: String, bytes: [UInt8], isMarkdown: Bool, externalID: String? = nil) throws(APIError) {
        guard !bytes.isEmpty else { throw .invalidRequest("the document '\(title)' is empty", param: "text") }
        if let nul = bytes.firstIndex(of: 0) {
            throw .invalidRequest("the document '\(title)' is not text (a NUL byte at offset \(nul)); upload text or markdown", param: "text")
        }
        guard var text = String(validating: bytes, as: UTF8.self) else {
            throw .invalidRequest("the document '\(title)' is not valid UTF-8", param: "text")
        }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        guard text.contains(where: { !$0.isWhitespace }) else {
            throw .invalidRequest("the document '\(title)' has no text", param: "text")
        }
        let title = title.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !title.isEmpty, title.count <= 512 else {
            throw .invalidRequest("a document title must be 1 to 512 characters", param: "title")
        }
        self.title = title
        self.source = source
        self.text = text
        self.bytes = bytes
        self.isMarkdown = isMarkdown
        if let externalID {
            guard !externalID.isEmpty, externalID.utf8.count <= 1024 else {
                throw .invalidRequest("'external_id' must be 1 to 1024 bytes", param: "external_id")
            }
        }
        self.externalID = externalID
    }

    /// The document as the ingestion pipeline takes it.
    func input(replacing: Int64?) -> DocumentInput {
        DocumentInput(title: title, source: source, externalKey: externalID, bytes: bytes,
                      format: isMarkdown ? .markdown : .plain, replacing: replacing)
    }

    /// Markdown when the name or media type says so.
    static func isMarkdown(filename: String?, contentType: String?) -> Bool {
        if let type = contentType?.lowercased(), type.hasPrefix("text/markdown") || type.hasPrefix("text/x-markdown") { return true }
        guard let name = filename?.lowercased() else { return false }
        return [".md", ".markdown", ".mdown", ".mkd"].contains { name.hasSuffix($0) }
    }
}

import Foundation
