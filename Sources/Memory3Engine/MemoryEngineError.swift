/// Errors of generation with memory, with messages a user can act on.
public enum MemoryEngineError: Error, Equatable, CustomStringConvertible {
    /// The reference exists but has no memory for the profile in use (ingested with another profile).
    case missingMemory(referenceId: Int64, profile: String)
    case missingReference(Int64)
    /// A dense or hybrid retrieval asked of a source without a sentence encoder.
    case retrieverUnavailable(String)
    /// An eval reference could not be ingested.
    case ingestionFailed(reference: Int, String)

    public var description: String {
        switch self {
        case .missingMemory(let id, let profile):
            return "reference \(id) has no '\(profile)' memory; re-ingest with --profile \(profile)"
        case .missingReference(let id): return "reference \(id) does not exist"
        case .retrieverUnavailable(let kind):
            return "the '\(kind)' retriever needs the sentence encoder (models/all-MiniLM-L6-v2: scripts/fetch-model.sh minilm), which is not loaded"
        case .ingestionFailed(let reference, let why): return "eval reference \(reference) could not be ingested: \(why)"
        }
    }
}
