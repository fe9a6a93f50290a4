import Foundation
import MemoryStore

/// `memory3 ingest`: files and folders through the `IngestionPipeline`. Per file: read and check
/// it, record it under its path (the document's stable key), then plan, encode and commit; a file
/// whose content is stored is skipped, an edited file replaces its previous version. A bad file is
/// reported and the rest of the batch goes on.
public final class Ingestor: Sendable {
    public let pipeline: IngestionPipeline
    public var store: MemoryStore { pipeline.store }
    public var options: IngestOptions { pipeline.options }

    public init(store: MemoryStore, encoder: MemoryEncoder, fingerprint: String, options: IngestOptions = IngestOptions(),
                embedding: (@Sendable (String) -> StoredEmbedding)? = nil) {
        pipeline = IngestionPipeline(store: store, encoder: encoder, fingerprint: fingerprint, options: options, embedding: embedding)
    }

    public init(pipeline: IngestionPipeline) {
        self.pipeline = pipeline
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
                plannedTotal += pipeline.chunker.chunk(file.text, format: file.format).count
            }
        }

        var summary = IngestSummary()
        var referencesBefore = 0, tokensBefore = 0
        for (index, path) in files.enumerated() {
            if isCancelled?() == true {
                summary.files.append(IngestedFile(path: path, outcome: .failed(.cancelled), references: 0, tokens: 0, memoryBytes: 0))
                continue
            }
            let file: DocumentFile
            do throws(IngestFileError) { file = try readAccepted(path) } catch {
                summary.files.append(IngestedFile(path: path, outcome: .failed(error), references: 0, tokens: 0, memoryBytes: 0))
                continue
            }
            let source = URL(fileURLWithPath: path).standardizedFileURL.path
            let input = DocumentInput(title: (path as NSString).lastPathComponent, source: source, externalKey: source,
                                      bytes: file.bytes, format: file.format)
            var last = IngestionJob.Progress()
            let result = pipeline.ingestNow(input, progress: { p in
                last = p
                plannedTotal = max(plannedTotal, referencesBefore + p.referencesDone)
                progress?(IngestProgress(
                    file: path, filesDone: index, filesTotal: files.count,
                    referencesDone: referencesBefore + p.referencesDone, referencesTotal: plannedTotal,
                    tokensDone: tokensBefore + p.tokensDone, elapsedSeconds: Date().timeIntervalSince(start)))
            }, isCancelled: isCancelled)
            summary.files.append(IngestedFile(path: path, result: result, progress: last))
            summary.modelTokens += last.modelTokens
            referencesBefore += last.referencesDone
            tokensBefore += last.tokensDone
        }
        summary.seconds = Date().timeIntervalSince(start)
        return summary
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

    /// Ingests one document given as bytes (no stable key). `title` decides the format (Markdown
    /// for .md) unless `format` is given.
    public func ingest(bytes: [UInt8], title: String, source: String, format: TextFormat? = nil) -> IngestedFile {
        var last = IngestionJob.Progress()
        let input = DocumentInput(title: title, source: source, bytes: bytes,
                                  format: format ?? TextFormat(pathExtension: (title as NSString).pathExtension))
        let result = pipeline.ingestNow(input, progress: { last = $0 })
        return IngestedFile(path: source, result: result, progress: last)
    }
}

extension IngestedFile {
    init(path: String, result: IngestionJob.Result, progress: IngestionJob.Progress) {
        switch result {
        case .ready(let id):
            self.init(path: path, outcome: .added(documentId: id), references: progress.referencesDone,
                      tokens: progress.tokensDone, memoryBytes: progress.memoryBytes)
        case .skipped(let id):
            self.init(path: path, outcome: .skipped(existingDocumentId: id), references: 0, tokens: 0, memoryBytes: 0)
        case .failed(let error):
            self.init(path: path, outcome: .failed(error), references: 0, tokens: 0, memoryBytes: 0)
        case .pending:
            self.init(path: path, outcome: .failed(.store("unfinished")), references: 0, tokens: 0, memoryBytes: 0)
        }
    }
}
