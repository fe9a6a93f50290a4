import ArgumentParser
import Foundation
import Memory3Engine
import Memory3Model
import MemoryStore

/// Retrieval at scale: a store filled with N synthetic references, swap-sized queries by each
/// retriever, latency percentiles, build time and disk size.
struct BenchRetrievalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-retrieval",
        abstract: "Retrieval latency at 10k-1M references: bm25, dense and hybrid (p50/p99), build time, disk size.",
        discussion: """
        Fills a temporary store with N synthetic references (64 words each from a 30,000-word vocabulary with a \
        Zipf distribution, so that common words are in most references as in real text; a random unit vector \
        each, as the encoder's are). Each query is a 64-word swap chunk: half its words from one reference, the \
        rest drawn like the references'; its vector is that reference's moved to cosine 0.5. Timed: the search \
        alone (the query's embedding given), since the sentence encoder's cost per swap does not depend on N: \
        it is measured once, on a real 64-token chunk, and printed beside.
        """
    )

    @Option(help: "Store sizes, comma-separated.")
    var references = "10000,100000,1000000"

    @Option(help: "Queries per retriever and size.")
    var queries = 200

    @Option(help: "The sentence encoder's folder (for the encoder's own time per chunk; skipped when missing).")
    var encoder: String = DenseRetrieval.defaultFolder

    @Option(help: ArgumentHelp(SentenceEncoder.Precision.help))
    var encoderPrecision = SentenceEncoder.Precision.bfloat16

    @Option(help: "Threads for the encoder.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "A PostgreSQL server (postgres://user@host:port/postgres) to measure instead of SQLite: each size fills a new database there, dropped afterwards.")
    var store: String?

    @Flag(inversion: .prefixedNo, help: "Merge the full-text index into one segment after filling (FTS5 optimize; counted in the build time).")
    var optimize = true

    @Flag(help: "Print the results as JSON on the last line.")
    var json = false

    static let dimensions = 384
    static let vocabulary = 30_000
    static let wordsPerReference = 64

    struct Result: Encodable {
        let references: Int
        let retriever: String
        let p50_ms: Double
        let p99_ms: Double
        let top1_hits: Double
        let build_s: Double
        let index_load_s: Double
        /// Building the in-memory BM25 index (`LexicalIndex`).
        let bm25_index_s: Double
        let disk_mb: Double
    }

    /// Word `i` of the synthetic vocabulary: letters from its number (no two alike).
    static func word(_ i: Int) -> String {
        var n = i, letters: [Character] = []
        repeat {
            letters.append(Character(Unicode.Scalar(UInt8(97 + n % 26))))
            n /= 26
        } while n > 0
        return "w" + String(letters)
    }

    func run() throws {
        let sizes = try references.split(separator: ",").map { raw -> Int in
            guard let n = Int(raw.trimmingCharacters(in: .whitespaces)), n > 0 else { throw ValidationError("--references: '\(raw)' is not a positive number") }
            return n
        }
        var encoderMs: Double?
        if FileManager.default.fileExists(atPath: encoder + "/model.safetensors") {
            let dense = try DenseRetrieval.load(folder: encoder, threads: threads, precision: encoderPrecision)
            let chunk = "The keeper of the Varnholt light wrote in her log that the fog came in from the north before dawn, and the ferry to Olm waited at the pier until the bell had rung three times; the harbour master noted the delay, the weather and the names of the crew on the evening tide."
            _ = dense.encoder.embed(chunk)
            var times: [Double] = []
            for _ in 0 ..< 20 {
                let started = Date()
                _ = dense.encoder.embed(chunk)
                times.append(Date().timeIntervalSince(started) * 1000)
            }
            encoderMs = times.sorted()[times.count / 2]
            print(String(format: "sentence encoder: %.1f ms per 64-token chunk (%d word pieces, median of 20, %d threads)", encoderMs!,
                         dense.encoder.tokenizer.encode(chunk).count, threads))
        }
        var results: [Result] = []
        print("store: \(self.store.map { PostgresURL.redacted($0) + " (PostgreSQL)" } ?? "SQLite file")")
        print("| references | retriever | p50 ms | p99 ms | query's reference first | build s | index load s | bm25 index s | disk MB |\n|---|---|---|---|---|---|---|---|---|")
        for n in sizes { results += try measure(n) }
        if json { try JSONOutput.print(results) }
        _ = encoderMs
    }

    func measure(_ n: Int) throws -> [Result] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("memory3-bench-retrieval-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("store.sqlite").path
        let database = "memory3_bench_\(n)_\(UInt32.random(in: 0 ... .max))"
        let location = try self.store.map { server in
            guard PostgresURL.isPostgres(server) else { throw ValidationError("--store must be a postgres:// URL") }
            return try PostgresServer.createDatabase(database, on: server)
        } ?? path
        defer { if let server = self.store { try? PostgresServer.dropDatabase(database, on: server) } }
        let store = try MemoryStore(path: location)
        defer { store.close() }
        var generator = SeededGenerator(seed: UInt64(n))
        // Zipf over the vocabulary: cumulative weights 1/rank.
        var cumulative: [Double] = []
        var total = 0.0
        for rank in 1 ... Self.vocabulary { total += 1 / Double(rank); cumulative.append(total) }
        func zipfWord() -> Int {
            let u = Double(generator.next() >> 11) / Double(1 << 53) * total
            var (lo, hi) = (0, cumulative.count - 1)
            while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] < u { lo = mid + 1 } else { hi = mid } }
            return lo
        }
        func unitVector() -> [Float] {
            var v = [Float](repeating: 0, count: Self.dimensions)
            for i in stride(from: 0, to: Self.dimensions, by: 8) {
                let bits = generator.next()
                for j in 0 ..< 8 { v[i + j] = Float(Int8(truncatingIfNeeded: bits >> (8 * UInt64(j)))) }
            }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return v.map { $0 / norm }
        }
        let sampleCount = min(queries, n)
        var samples: [(words: [Int], vector: [Float])] = []
        let encoderName = "synthetic"
        let started = Date()
        let perDocument = 100
        var written = 0
        while written < n {
            let count = min(perDocument, n - written)
            var refs: [NewReference] = []
            for ordinal in 0 ..< count {
                let words = (0 ..< Self.wordsPerReference).map { _ in zipfWord() }
                let vector = unitVector()
                if samples.count < sampleCount, (written + ordinal) % max(1, n / sampleCount) == 0 { samples.append((words, vector)) }
                refs.append(NewReference(ordinal: ordinal, text: words.map(Self.word).joined(separator: " "), tokenCount: Self.wordsPerReference,
                                         memories: [], embedding: StoredEmbedding(encoder: encoderName, vector: vector)))
            }
            _ = try store.insertDocument(NewDocument(title: "synthetic \(written)", source: "bench", sha256: "bench-\(written)",
                                                     bytes: 0, references: refs))
            written += count
        }
        if optimize { try store.optimizeSearchIndex() }
        let build = Date().timeIntervalSince(started)
        let disk = self.store == nil
            ? Double((try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0) / 1e6
            : Double(try store.statistics().fileBytes) / 1e6
        let index = EmbeddingIndex(encoder: encoderName, dimensions: Self.dimensions)
        let loadStarted = Date()
        try index.refresh(from: store)
        let load = Date().timeIntervalSince(loadStarted)
        // The BM25 index of a large store is built on first search; built here so that no query waits for it.
        let lexicalStarted = Date()
        try store.prepareSearchIndex()
        let lexicalLoad = Date().timeIntervalSince(lexicalStarted)
        let source = StoreMemorySource(store: store, modelFingerprint: "", dense: nil, requiresMemory: false, index: index)
        // Queries: half the words of a sampled reference, half drawn as the references' are.
        let queryItems: [(text: String, vector: [Float], words: [Int])] = samples.map { sample in
            var words = Array(sample.words.prefix(Self.wordsPerReference / 2))
            words += (0 ..< Self.wordsPerReference / 2).map { _ in zipfWord() }
            let noise = unitVector()
            let mixed = zip(sample.vector, noise).map { 0.5 * $0 + 0.866 * $1 }
            let norm = mixed.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return (words.map(Self.word).joined(separator: " "), mixed.map { $0 / norm }, sample.words)
        }
        var results: [Result] = []
        for kind in RetrieverKind.allCases {
            var times: [Double] = []
            var hits = 0
            for (i, item) in queryItems.enumerated() {
                let t = Date()
                let found = try source.retrieve(item.text, vector: item.vector, limit: 5, retriever: kind)
                times.append(Date().timeIntervalSince(t) * 1000)
                if let first = found.first, let text = try store.reference(id: first.referenceId)?.text,
                   text == samples[i].words.map(Self.word).joined(separator: " ") { hits += 1 }
            }
            times.sort()
            let result = Result(references: n, retriever: kind.rawValue, p50_ms: times[times.count / 2],
                                p99_ms: times[min(times.count - 1, Int(Double(times.count) * 0.99))],
                                top1_hits: Double(hits) / Double(max(queryItems.count, 1)), build_s: build, index_load_s: load,
                                bm25_index_s: lexicalLoad, disk_mb: disk)
            results.append(result)
            print(String(format: "| %d | %@ | %.2f | %.2f | %.3f | %.1f | %.2f | %.2f | %.0f |", n, kind.rawValue, result.p50_ms, result.p99_ms,
                         result.top1_hits, build, load, lexicalLoad, disk))
        }
        return results
    }
}
