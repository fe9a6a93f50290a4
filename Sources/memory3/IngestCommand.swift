import ArgumentParser
import Foundation
import GGUF
import Memory3Engine
import Memory3Memory
import MemoryStore

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Turn text and Markdown files into explicit memory in a knowledge base.",
        discussion: """
        Files and folders (walked recursively for .txt and .md) are cut into references of at most 128 \
        tokens; each reference is run through the model once and its key/values are stored, compressed, \
        in the SQLite knowledge base, in batches that each commit (memory stays bounded; an interrupted run \
        leaves nothing half-visible). A file is keyed by its path: its content already stored is skipped, an \
        edited file replaces its document (same id, new references), so re-running is safe. Bad files \
        (binary, invalid UTF-8, empty, too large) are reported and the rest go on; the exit code is 1 when \
        any file failed.
        """
    )

    @OptionGroup var modelOptions: ModelOptions
    @OptionGroup var retrieverOptions: RetrieverOptions

    @Option(name: [.customLong("store"), .customLong("db")],
            help: "Knowledge base: an SQLite file (created when missing) or postgres://user:password@host:port/database (or PGPASSWORD for the password).")
    var db: String

    @Option(help: "Memory profile: compact, dense, paper, or custom:layers=0-14,tokens=16,selection=attention|keyNorm|h2o|evolved.")
    var profile = "dense"

    @Option(help: "Memory codec: int8, fp16, int4, int3, int2, or the rotated int3r and int2r (default: the profile's own, compact's int3; else the model's: int3r for llama (SmolLM2), int2 for Gemma 3, int8 for others).")
    var codec: String?

    @Option(help: "Largest file to ingest, in MB.")
    var maxFileMb = IngestOptions.defaultMaxFileMegabytes

    @Option(help: "Largest memory of one document, in MB (estimated from its first reference: a larger document fails before it fills the disk).")
    var maxDocumentMemoryMb = IngestOptions().maxDocumentMemoryBytes >> 20

    @Option(help: "zlib level for memory blobs, 0 (stored) to 9; 1 is as small as 6 on KV data and a little faster.")
    var compressionLevel = Int(MemoryCodec.defaultCompressionLevel)

    @Flag(help: "Print the summary as one JSON object.")
    var json = false

    @Flag(help: "No progress bar.")
    var quiet = false

    @Argument(help: "Files or folders to ingest.")
    var paths: [String]

    /// Store setting naming the model whose memories the store holds.
    static let fingerprintSetting = "memory.model_fingerprint"

    func validate() throws {
        guard maxFileMb >= 1, maxDocumentMemoryMb >= 1 else {
            throw ValidationError("--max-file-mb and --max-document-memory-mb must be >= 1")
        }
        guard (0 ... 9).contains(compressionLevel) else { throw ValidationError("--compression-level must be 0 to 9") }
        guard !paths.isEmpty else { throw ValidationError("name at least one file or folder") }
        do {
            _ = try storageCodec(try MemoryProfile(parsing: profile), requested: codec)
        } catch let error as MemoryProfileError {
            throw ValidationError(error.description)
        } catch let error as MemoryCodecError {
            throw ValidationError(error.description)
        }
    }

    func run() throws {
        let profile = try MemoryProfile(parsing: self.profile)
        var options = IngestOptions()
        options.maxFileBytes = maxFileMb << 20
        options.maxDocumentMemoryBytes = maxDocumentMemoryMb << 20
        options.compressionLevel = Int32(compressionLevel)

        let (model, tokenizer, _) = try modelOptions.load()
        options.codec = try storageCodec(profile, requested: codec, model: model.config)
        let fingerprint = ModelFingerprint.of(model.file)
        let store: MemoryStore
        do { store = try MemoryStore(path: db) } catch { throw CLIError("\(error)") }
        defer { store.close() }
        do {
            if let stored = try store.setting(Self.fingerprintSetting), stored != fingerprint {
                throw CLIError("""
                    '\(store.path)' holds memories written by another model (fingerprint \(stored.prefix(16))…, this model \
                    \(fingerprint.prefix(16))…); ingest with that model or into another --db
                    """)
            }
            try store.setSetting(Self.fingerprintSetting, fingerprint)
        } catch let error as MemoryStoreError {
            throw CLIError("\(error)")
        }
        // Low-bit memories keep the calibrated retrieval head's layer's keys at int8, as the server's do.
        options.int8KeyLayers = ModelSettings.load(forModel: modelOptions.model, fingerprint: fingerprint)?.int8KeyLayers ?? []
        if options.codec.isLowBit && options.int8KeyLayers.isEmpty && !quiet {
            FileHandle.standardError.write(Data("""
                warning: no calibrated retrieval head for this model (`memory3 calibrate --set config/calibration-set.json` \
                first): these \(options.codec.name) memories will lack the head layer's int8 keys that the rerank reads\n
                """.utf8))
        }

        let encoder: MemoryEncoder
        do { encoder = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: profile) } catch {
            throw CLIError("\(error)")
        }
        // Each reference's sentence embedding is stored with it when the encoder is there (--retriever bm25: none).
        let ingestor = Ingestor(store: store, encoder: encoder, fingerprint: fingerprint, options: options,
                                embedding: try retrieverOptions.loadDense(threads: model.threads)?.referenceEmbedding)
        let bar = IngestProgressBar(enabled: !quiet)
        let summary = ingestor.ingest(paths) { bar.update($0) }
        bar.finish()

        if json {
            try JSONOutput.print(IngestSummaryJSON(summary, profile: profile.name, codec: options.codec.name))
        } else {
            printSummary(summary, profile: profile.name, codec: options.codec.name)
        }
        if !summary.failed.isEmpty { throw ExitCode(1) }
    }

    func printSummary(_ s: IngestSummary, profile: String, codec: String) {
        print(String(format: "added %d document%@ (%d references, %d tokens, %.1f MB of %@/%@ memories) in %.1f s: %.2f references/s, %.0f tokens/s",
                     s.added.count, s.added.count == 1 ? "" : "s", s.references, s.tokens,
                     Double(s.memoryBytes) / 1_048_576, profile, codec, s.seconds, s.referencesPerSecond, s.tokensPerSecond))
        if !s.skipped.isEmpty {
            print("skipped \(s.skipped.count) already stored:")
            for f in s.skipped {
                if case .skipped(let id) = f.outcome { print("  \(f.path) (document \(id))") }
            }
        }
        if !s.failed.isEmpty {
            print("failed \(s.failed.count):")
            for f in s.failed {
                if case .failed(let error) = f.outcome { print("  \(f.path): \(error)") }
            }
        }
    }
}

/// A one-line progress bar on stderr, redrawn at most ten times a second when stderr is a
/// terminal; otherwise a line per 10% of the references.
final class IngestProgressBar {
    let enabled: Bool
    let terminal = isatty(STDERR_FILENO) != 0
    private var lastDraw = Date.distantPast
    private var lastDecile = -1
    private var drawn = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ p: IngestProgress) {
        guard enabled else { return }
        let line = Self.line(p)
        if terminal {
            let now = Date()
            guard now.timeIntervalSince(lastDraw) >= 0.1 || p.referencesDone == p.referencesTotal else { return }
            lastDraw = now
            drawn = true
            FileHandle.standardError.write(("\r\u{1B}[K" + line).data(using: .utf8)!)
        } else {
            let decile = p.referencesTotal > 0 ? 10 * p.referencesDone / p.referencesTotal : 0
            guard decile != lastDecile else { return }
            lastDecile = decile
            FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
        }
    }

    func finish() {
        if drawn { FileHandle.standardError.write("\n".data(using: .utf8)!) }
    }

    static func line(_ p: IngestProgress) -> String {
        let width = 24
        let fraction = p.referencesTotal > 0 ? min(1, Double(p.referencesDone) / Double(p.referencesTotal)) : 0
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
        let eta = p.etaSeconds.map { Self.duration($0) } ?? "--:--"
        let name = (p.file as NSString).lastPathComponent
        return String(format: "[%@] %d/%d refs  %.1f refs/s  %.0f tok/s  ETA %@  file %d/%d %@",
                      bar, p.referencesDone, p.referencesTotal, p.referencesPerSecond, p.tokensPerSecond, eta,
                      p.filesDone + 1, p.filesTotal, name)
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }
}

/// `ingest --json` output.
struct IngestSummaryJSON: Encodable {
    struct File: Encodable {
        let path: String
        let status: String
        let document_id: Int64?
        let references: Int
        let tokens: Int
        let memory_bytes: Int
        let error: String?
    }

    let profile: String
    let codec: String
    let added: Int
    let skipped: Int
    let failed: Int
    let references: Int
    let tokens: Int
    let model_tokens: Int
    let memory_bytes: Int
    let seconds: Double
    let references_per_second: Double
    let tokens_per_second: Double
    let files: [File]

    init(_ s: IngestSummary, profile: String, codec: String) {
        self.profile = profile
        self.codec = codec
        added = s.added.count
        skipped = s.skipped.count
        failed = s.failed.count
        references = s.references
        tokens = s.tokens
        model_tokens = s.modelTokens
        memory_bytes = s.memoryBytes
        seconds = s.seconds
        references_per_second = s.referencesPerSecond
        tokens_per_second = s.tokensPerSecond
        files = s.files.map { f in
            switch f.outcome {
            case .added(let id):
                return File(path: f.path, status: "added", document_id: id, references: f.references, tokens: f.tokens,
                            memory_bytes: f.memoryBytes, error: nil)
            case .skipped(let id):
                return File(path: f.path, status: "skipped", document_id: id, references: 0, tokens: 0, memory_bytes: 0, error: nil)
            case .failed(let e):
                return File(path: f.path, status: "failed", document_id: nil, references: 0, tokens: 0, memory_bytes: 0,
                            error: e.description)
            }
        }
    }
}
