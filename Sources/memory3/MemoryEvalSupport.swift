import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model
import MemoryStore
import Tokenizer

/// A temporary store built from an eval set's references, for `eval` and `calibrate`.
struct EvalStore {
    let directory: URL
    let store: MemoryStore
    let source: StoreMemorySource
    let referenceIds: [Int: Int64]
    let fingerprint: String

    static func build(set: EvalSet, model: any DecoderModel, tokenizer: Tokenizer, profile: MemoryProfile,
                      codec: MemoryCodec, int8KeyLayers: [Int] = [], dense: DenseRetrieval? = nil, retriever: RetrieverKind? = nil,
                      verbose: Bool) throws -> EvalStore {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-eval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try MemoryStore(path: directory.appendingPathComponent("eval.sqlite").path)
        let fingerprint = ModelFingerprint.of(model.file)
        let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: profile)
        let started = Date()
        var options = IngestOptions()
        options.codec = codec
        options.int8KeyLayers = int8KeyLayers
        let pipeline = IngestionPipeline(store: store, encoder: encoder, fingerprint: fingerprint, options: options,
                                         embedding: dense?.referenceEmbedding)
        let ids = try Evaluation.buildStore(set, pipeline: pipeline) { done, total in
            if verbose { stderrLine("\rencoding references \(done)/\(total)", newline: done == total) }
        }
        if verbose {
            stderrLine(String(format: "encoded %d references in %.1f s (%@, %@%@)", ids.count,
                              Date().timeIntervalSince(started), profile.name, codec.name,
                              int8KeyLayers.isEmpty || !codec.isLowBit ? "" : ", int8 keys in layer \(int8KeyLayers.map(String.init).joined(separator: ","))"))
            // What the memories cost: stored blob bytes (header and zlib included) per 128 body tokens.
            let blobs = try store.memoryBlobs(referenceIds: Array(ids.values), profile: profile.name)
            let bytes = blobs.values.reduce(0) { $0 + $1.blob.count }
            let tokens = set.references.reduce(0) { $0 + encoder.bodyTokens($1.text).count }
            stderrLine(String(format: "memory size: %.4f MB per 128 reference tokens (%d bytes over %d references, %d tokens)",
                              Double(bytes) / Double(max(1, tokens)) * 128 / 1e6, bytes, blobs.count, tokens))
        }
        let source = StoreMemorySource(store: store, profile: profile.name, modelFingerprint: fingerprint, dense: dense, defaultRetriever: retriever)
        if verbose { stderrLine("retriever: \(source.defaultRetriever.rawValue)" + (dense.map { " (encoder \($0.encoder.name))" } ?? "")) }
        return EvalStore(directory: directory, store: store, source: source, referenceIds: ids, fingerprint: fingerprint)
    }

    func remove() {
        store.close()
        try? FileManager.default.removeItem(at: directory)
    }
}

func stderrLine(_ text: String, newline: Bool = true) {
    FileHandle.standardError.write((text + (newline ? "\n" : "")).data(using: .utf8)!)
}
