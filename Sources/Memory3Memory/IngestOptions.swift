/// Limits and choices of one ingest run, each a named value.
public struct IngestOptions: Sendable, Equatable {
    /// Files larger than this are refused without being read.
    public var maxFileBytes: Int = 32 << 20
    /// The most a document's stored memories may take: estimated from its first reference (and
    /// checked after every one), a document over it fails early instead of filling the disk.
    public var maxDocumentMemoryBytes: Int = 2 << 30
    /// References committed per transaction: what is held in RAM while a document is encoded
    /// (~1.5 MB each with the dense profile), and what a crash can cost to encode again.
    public var commitBatchReferences = 8
    /// A pending ingestion whose owner has not committed for this long (and whose process cannot
    /// be seen to be gone) may be taken over by another process sharing the store.
    public var ownerStaleSeconds: Double = 120
    /// An accepted upload is recorded as this process's own (true: it alone carries it while it
    /// lives), or as no one's (false, a store shared by replicas: whichever is idle first claims it).
    public var claimAtUpload = true
    /// The codec memories are stored with, unless the profile fixes its own (compact).
    public var codec: MemoryCodec = .default
    /// Layers whose keys a low-bit memory also keeps at int8: the retrieval head's
    /// (`MemoryCodec.encode(_:int8KeyLayers:)`); empty when the model has no calibrated head.
    public var int8KeyLayers: [Int] = []
    public var maxReferenceTokens: Int = ReferenceChunker.defaultMaxReferenceTokens
    /// Extensions taken from folders (and accepted for files named explicitly), lowercase.
    public var fileExtensions: Set<String> = ["txt", "md", "markdown"]
    public var compressionLevel: Int32 = MemoryCodec.defaultCompressionLevel

    public static let defaultMaxFileMegabytes = 32

    public init() {}
}
