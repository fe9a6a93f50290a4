import ArgumentParser
import Foundation
import Memory3Engine
import Memory3Model
import MemoryStore

/// Recall of each retriever on eval sets, retrieval alone: references stored as text (no model,
/// no memories), each question's prompt retrieved by bm25, dense and hybrid.
struct RetrievalEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval-retrieval",
        abstract: "Recall@1 and @5 of the bm25, dense and hybrid retrievers on question sets (no model needed).",
        discussion: """
        Each set's references go into a temporary store as text with their sentence embeddings; each \
        question's prompt is the query, and a hit is the reference that holds its answer. Prints a \
        Markdown table (and JSON with --json).
        """
    )

    @Argument(help: "Question sets (JSON, the format of shared/eval/*.json).")
    var sets: [String]

    @Option(help: "The sentence encoder's folder.")
    var encoder: String = DenseRetrieval.defaultFolder

    @Option(help: ArgumentHelp(SentenceEncoder.Precision.help))
    var encoderPrecision = SentenceEncoder.Precision.bfloat16

    @Option(help: "Threads for the encoder.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "BM25's share of the hybrid blend (0-1).")
    var bm25Weight = HybridRanking().bm25Weight

    @Flag(help: "Print the results as JSON on the last line.")
    var json = false

    struct Result: Encodable {
        let set: String
        let retriever: String
        let recall_at_1: Double
        let recall_at_5: Double
        let questions: Int
        let median_ms: Double
    }

    func run() throws {
        guard (0 ... 1).contains(bm25Weight) else { throw ValidationError("--bm25-weight must be in 0...1") }
        let dense: DenseRetrieval
        do { dense = try DenseRetrieval.load(folder: encoder, threads: threads, precision: encoderPrecision) } catch { throw CLIError("\(error)") }
        var hybrid = HybridRanking()
        hybrid.bm25Weight = bm25Weight
        var results: [Result] = []
        print("| set | retriever | recall@1 | recall@5 | median ms per query |\n|---|---|---|---|---|")
        for path in sets {
            let set = try EvalSet.load(path: path)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-retrieval-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let store = try MemoryStore(path: directory.appendingPathComponent("store.sqlite").path)
            defer { store.close() }
            var ids: [Int: Int64] = [:]
            for reference in set.references {
                let document = NewDocument(title: "reference \(reference.id)", source: "eval", sha256: "eval-\(reference.id)",
                                           bytes: reference.text.utf8.count,
                                           references: [NewReference(ordinal: 0, text: reference.text, tokenCount: 0, memories: [],
                                                                     embedding: dense.storedEmbedding(reference.text))])
                let documentId = try store.insertDocument(document)
                ids[reference.id] = try store.document(id: documentId)?.references.first?.id
            }
            let source = StoreMemorySource(store: store, modelFingerprint: "", dense: dense, hybrid: hybrid, requiresMemory: false)
            for kind in RetrieverKind.allCases {
                var (first, five) = (0, 0)
                var times: [Double] = []
                for question in set.questions {
                    let started = Date()
                    let hits = try source.retrieve(question.prompt, limit: 5, retriever: kind).map(\.referenceId)
                    times.append(Date().timeIntervalSince(started) * 1000)
                    if hits.first == ids[question.ref] { first += 1 }
                    if hits.contains(where: { $0 == ids[question.ref] }) { five += 1 }
                }
                let n = Double(max(set.questions.count, 1))
                let median = times.sorted()[times.count / 2]
                let result = Result(set: URL(fileURLWithPath: path).lastPathComponent, retriever: kind.rawValue,
                                    recall_at_1: Double(first) / n, recall_at_5: Double(five) / n, questions: set.questions.count, median_ms: median)
                results.append(result)
                print(String(format: "| %@ | %@ | %.3f | %.3f | %.1f |", result.set, result.retriever, result.recall_at_1, result.recall_at_5, median))
            }
        }
        if json { try JSONOutput.print(results) }
    }
}
