/// Limits and choices of one ingest run, each a named value.
public struct IngestOptions: Sendable, Equatable {
    /// Files larger than this are refused without being read.
    public var maxFileBytes: Int = 32 << 20
    /// A document's memories are written in one transaction, so they are all held in memory
    /// first; a document whose memories would exceed this is refused before it is encoded.
    public var maxDocumentMemoryBytes: Int = 2 << 30
    public var codec: MemoryCodec = .default
    public var maxReferenceTokens: Int = ReferenceChunker.defaultMaxReferenceTokens
    /// Extensions taken from folders (and accepted for files named explicitly), lowercase.
    public var fileExtensions: Set<String> = ["txt", "md", "markdown"]
    public var compressionLevel: Int32 = MemoryCodec.defaultCompressionLevel

    public static let defaultMaxFileMegabytes = 32

    public init() {}
}
