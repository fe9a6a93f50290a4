import Foundation
import MemoryStore

/// Turns text files into stored explicit memory: per file, read and validate, hash (a file whose
/// content is already stored is skipped), cut into references, encode each reference, run the
/// codec, and insert the document with all its references and memories in one transaction.
/// A bad file is reported and the rest of the batch goes on.
public final class Ingestor: Sendable {
    public let store: MemoryStore
    public let encoder: MemoryEncoder
    public let chunker: ReferenceChunker
    public let options: IngestOptions
    /// Fingerprint of the encoder's model, written into every memory.
    public let fingerprint: String

    public init(store: MemoryStore, encoder: MemoryEncoder, fingerprint: String, options: IngestOptions = IngestOptions()) {
        self.store = store
        self.encoder = encoder
        self.fingerprint = fingerprint
        self.options = options
        self.chunker = ReferenceChunker(tokenizer: encoder.tokenizer, maxReferenceTokens: options.maxReferenceTokens)
    }

    /// Ingests files and folders (recursively). `progress` is called after every reference;
    /// `isCancelled` is polled between references (a cancelled document is not stored).
    public func ingest(_ paths: [String], progress: ((IngestProgress) -> Void)? = nil,
                       isCancelled: (() -> Bool)? = nil) -> IngestSummary {
        let start = Date()
        let files = DocumentFile.expand(paths, extensions: options.fileExtensions)

        // Plan: how many references are to be encoded, for the ETA. Files are read again below,
        // so that what is stored is what is hashed even if a file changes in between.
        var plannedTotal = 0
        for path in files {
            if let file = try? readAccepted(path), (try? store.document(sha256: ModelFingerprint.sha256Hex(file.bytes))) == nil {
                plannedTotal += chunker.chunk(file.text, format: file.format).count
            }
        }

        var summary = IngestSummary()
        var counters = Counters(total: plannedTotal, files: files.count, start: start)
        for (index, path) in files.enumerated() {
            if isCancelled?() == true {
                summary.files.append(IngestedFile(path: path, outcome: .failed(.cancelled), references: 0, tokens: 0, memoryBytes: 0))
                continue
            }
            counters.filesDone = index
            let result = ingestFile(path, counters: &counters, progress: progress, isCancelled: isCancelled)
            summary.files.append(result.file)
            summary.modelTokens += result.modelTokens
        }
        summary.seconds = Date().timeIntervalSince(start)
        return summary
    }

    struct Counters {
        var total: Int
        let files: Int
        let start: Date
        var filesDone = 0
        var referencesDone = 0
        var tokensDone = 0
    }

    private func readAccepted(_ path: String) throws(IngestFileError) -> DocumentFile {
        let ext = (path as NSString).pathExtension.lowercased()
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
           !options.fileExtensions.contains(ext) {
            throw .unsupportedType(extension: ext, supported: options.fileExtensions.sorted())
        }
        return try DocumentFile.read(path: path, maxBytes: options.maxFileBytes)
    }

    private func ingestFile(_ path: String, counters: inout Counters, progress: ((IngestProgress) -> Void)?,
                            isCancelled: (() -> Bool)?) -> (file: IngestedFile, modelTokens: Int) {
        let file: DocumentFile
        do throws(IngestFileError) { file = try readAccepted(path) } catch {
            return (IngestedFile(path: path, outcome: .failed(error), references: 0, tokens: 0, memoryBytes: 0), 0)
        }
        return ingestDocument(bytes: file.bytes, text: file.text, format: file.format, path: path,
                              title: (path as NSString).lastPathComponent,
                              source: URL(fileURLWithPath: path).standardizedFileURL.path,
                              counters: &counters, progress: progress, isCancelled: isCancelled)
    }

    /// Ingests one document given as bytes (an upload): validated, hashed (skipped when the
    /// content is stored), chunked, encoded and inserted in one transaction. `name` identifies it
    /// in the result and decides the format (Markdown for .md).
    public func ingest(bytes: [UInt8], title: String, source: String,
                       format: TextFormat? = nil) -> IngestedFile {
        var counters = Counters(total: 0, files: 1, start: Date())
        let text: String
        do throws(IngestFileError) {
            guard bytes.count <= options.maxFileBytes else { throw .tooLarge(bytes: bytes.count, limit: options.maxFileBytes) }
            text = try DocumentFile.validate(bytes)
        } catch {
            return IngestedFile(path: source, outcome: .failed(error), references: 0, tokens: 0, memoryBytes: 0)
        }
        return ingestDocument(bytes: bytes, text: text, format: format ?? TextFormat(pathExtension: (title as NSString).pathExtension),
                              path: source, title: title, source: source, counters: &counters, progress: nil, isCancelled: nil).file
    }

    private func ingestDocument(bytes: [UInt8], text: String, format: TextFormat, path: String, title: String, source: String,
                                counters: inout Counters, progress: ((IngestProgress) -> Void)?,
                                isCancelled: (() -> Bool)?) -> (file: IngestedFile, modelTokens: Int) {
        func failed(_ error: IngestFileError) -> (file: IngestedFile, modelTokens: Int) {
            (IngestedFile(path: path, outcome: .failed(error), references: 0, tokens: 0, memoryBytes: 0), 0)
        }
        func skipped(_ existing: Int64) -> (file: IngestedFile, modelTokens: Int) {
            (IngestedFile(path: path, outcome: .skipped(existingDocumentId: existing), references: 0, tokens: 0, memoryBytes: 0), 0)
        }
        let sha = ModelFingerprint.sha256Hex(bytes)
        do {
            if let existing = try store.document(sha256: sha) { return skipped(existing.id) }
        } catch {
            return failed(.store("\(error)"))
        }
        let chunks = chunker.chunk(text, format: format)
        guard !chunks.isEmpty else { return failed(.noText) }

        var references: [NewReference] = []
        references.reserveCapacity(chunks.count)
        var memoryBytes = 0, tokens = 0, modelTokens = 0
        let profile = encoder.profile.name
        for chunk in chunks {
            if isCancelled?() == true { return failed(.cancelled) }
            let blob: [UInt8]
            do {
                let body = encoder.bodyTokens(chunk.text)
                let memory = try encoder.encode(bodyTokens: body)
                modelTokens += encoder.prefixTokens.count + body.count
                blob = try options.codec.encode(memory, profile: profile, fingerprint: fingerprint,
                                                compressionLevel: options.compressionLevel)
            } catch let error as MemoryEncoderError {
                return failed(.encoding(error.description))
            } catch let error as MemoryCodecError {
                return failed(.encoding(error.description))
            } catch {
                return failed(.encoding("\(error)"))
            }
            memoryBytes += blob.count
            tokens += chunk.tokenCount
            // The first blob tells what the whole document will need; later ones keep checking.
            let estimate = memoryBytes * chunks.count / (references.count + 1)
            if estimate > options.maxDocumentMemoryBytes {
                return failed(.memoryTooLarge(references: chunks.count, estimatedBytes: estimate, limit: options.maxDocumentMemoryBytes))
            }
            references.append(NewReference(ordinal: chunk.ordinal, text: chunk.text, tokenCount: chunk.tokenCount,
                                           memories: [NewMemory(profile: profile, codec: options.codec.name, blob: blob)]))
            counters.referencesDone += 1
            counters.tokensDone += chunk.tokenCount
            counters.total = max(counters.total, counters.referencesDone)
            progress?(IngestProgress(
                file: path, filesDone: counters.filesDone, filesTotal: counters.files,
                referencesDone: counters.referencesDone, referencesTotal: counters.total,
                tokensDone: counters.tokensDone, elapsedSeconds: Date().timeIntervalSince(counters.start)))
        }

        let document = NewDocument(title: title, source: source, sha256: sha, bytes: bytes.count, references: references)
        do {
            let id = try store.insertDocument(document)
            return (IngestedFile(path: path, outcome: .added(documentId: id), references: chunks.count, tokens: tokens,
                                 memoryBytes: memoryBytes), modelTokens)
        } catch {
            if case MemoryStoreError.duplicateDocument(let existing) = error { return skipped(existing) }
            return failed(.store("\(error)"))
        }
    }
}
