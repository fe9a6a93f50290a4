import ArgumentParser
import Foundation
import GGUF
import Memory3Engine
import Memory3Memory
import Memory3Model
import Memory3Server
import MemoryStore
import Tokenizer

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the model over HTTP: OpenAI-compatible completions, documents, /metrics.",
        discussion: """
        Settings come from the config file (config/memory3.json when present; every setting is described \
        in config/README.md), then MEMORY3_* environment variables, then these flags. The server listens \
        at once (GET /health answers) and answers completions once the model has loaded (GET /ready). \
        SIGTERM or SIGINT stops accepting, lets requests in flight finish (server.shutdown_grace_s), and exits 0.
        """
    )

    static let defaultConfigPath = "config/memory3.json"

    @Option(help: "JSON config file (default: \(ServeCommand.defaultConfigPath) when it exists, or $MEMORY3_CONFIG).")
    var config: String?

    @Option(help: "Address to listen on (default 127.0.0.1; 0.0.0.0 for every interface).")
    var host: String?

    @Option(help: "Port to listen on (default 8080; 0 picks a free one).")
    var port: Int?

    @Option(name: [.customLong("store"), .customLong("db")],
            help: "Knowledge base: an SQLite file (created when missing; also sqlite:PATH) or a PostgreSQL server that replicas share (postgres://user:password@host:port/database). Empty: none.")
    var db: String?

    @Option(name: .shortAndLong, help: "GGUF model file.")
    var model: String?

    @Option(help: "Threads for matrix work (default: the number of cores).")
    var threads: Int?

    @Option(help: "PEM certificate chain: serve HTTPS (needs --tls-key too).")
    var tlsCert: String?

    @Option(help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    func validate() throws {
        if let port, !(0...65535).contains(port) { throw ValidationError("--port must be between 0 and 65535") }
        if let threads, !(1...256).contains(threads) { throw ValidationError("--threads must be between 1 and 256") }
    }

    /// Defaults, then the file, the environment and the flags.
    func resolvedConfiguration() throws -> ServerConfiguration {
        let environment = ProcessInfo.processInfo.environment
        var settings = ServerConfiguration()
        if let path = config ?? environment["MEMORY3_CONFIG"] {
            settings = try ServerConfiguration.load(path: path)
        } else if FileManager.default.fileExists(atPath: Self.defaultConfigPath) {
            settings = try ServerConfiguration.load(path: Self.defaultConfigPath)
        }
        try settings.applyEnvironment(environment)
        if let host { settings.host = host }
        if let port { settings.port = port }
        if let db { settings.databasePath = db.isEmpty ? nil : db }
        if let model { settings.modelPath = model }
        if let threads { settings.threads = threads }
        if let tlsCert { settings.tlsCertificate = tlsCert.isEmpty ? nil : tlsCert }
        if let tlsKey { settings.tlsKey = tlsKey.isEmpty ? nil : tlsKey }
        return settings
    }

    func run() throws {
        // Before any thread starts: the signals then stay blocked everywhere but in sigwait.
        let signals = Self.blockTerminationSignals()
        let settings: ServerConfiguration
        do { settings = try resolvedConfiguration() } catch let error as ConfigurationError { throw CLIError(error.description) }
        let server = Memory3Server(configuration: settings)
        do { try server.start() } catch { throw CLIError("\(error)") }
        let log = server.log
        if !settings.apiKeys.isEmpty { log.event("API keys required (\(settings.apiKeys.count) configured)") }

        // The model loads beside the accept loop: /health answers meanwhile, /ready says when it is done.
        let loader = Thread { Self.load(settings, into: server) }
        loader.stackSize = 8 << 20
        loader.start()

        let signal = Self.waitForTerminationSignal(signals)
        if let problem = server.loadFailure {
            // A server that cannot serve its model exits, so that systemd or Kubernetes shows
            // the failure and restarts it, instead of staying up and never ready.
            server.shutdown(grace: 0)
            throw CLIError("\(problem); exiting")
        }
        log.event("\(signal), shutting down: no new connections; requests in flight get up to \(Int(settings.shutdownGraceSeconds)) s")
        let started = Date()
        server.shutdown()
        log.event(String(format: "stopped after %.1f s", Date().timeIntervalSince(started)))
    }

    /// Records why the server cannot serve and wakes the main thread's `sigwait` to stop it.
    static func failStart(_ server: Memory3Server, _ message: String) {
        server.setLoadFailure(message)
        kill(getpid(), SIGTERM)
    }

    static func load(_ settings: ServerConfiguration, into server: Memory3Server) {
        let log = server.log
        let path = settings.modelPath
        guard FileManager.default.fileExists(atPath: path) else {
            let message = "model file '\(path)' does not exist" + (path == ModelOptions.defaultModelPath ? "; run `make model` to fetch it" : "")
            failStart(server, message)
            return
        }
        let started = Date()
        let file: GGUFFile
        let model: any DecoderModel
        let tokenizer: Tokenizer
        do {
            file = try GGUFFile(path: path)
            tokenizer = try Tokenizer(gguf: file)
            model = try ModelRegistry.load(file, threads: settings.threads)
        } catch {
            failStart(server, "cannot load the model '\(path)': \(error)")
            return
        }

        var source: StoreMemorySource?
        var policy = MemoryReadingPolicy.defaults(for: model.config)
        if let dbPath = settings.databasePath {
            let dense: DenseRetrieval?
            switch loadEncoder(settings, threads: model.threads, log: log) {
            case .success(let loaded): dense = loaded
            case .failure(let problem):
                failStart(server, problem.description)
                return
            }
            do {
                if !PostgresURL.isPostgres(dbPath) {
                    let file = dbPath.hasPrefix("sqlite:") ? String(dbPath.dropFirst("sqlite:".count)) : dbPath
                    try FileManager.default.createDirectory(at: URL(fileURLWithPath: file).deletingLastPathComponent(), withIntermediateDirectories: true)
                }
                let store = try MemoryStore(path: dbPath)
                let shared = store.backend == "postgres"
                let fingerprint = ModelFingerprint.of(file)
                source = StoreMemorySource(store: store, profile: settings.memoryProfile, modelFingerprint: fingerprint,
                                           dense: dense, defaultRetriever: settings.memoryRetriever)
                log.event("retriever: \(source!.defaultRetriever.rawValue)" + (dense.map { " (sentence encoder \($0.encoder.name))" } ?? ""))
                let modelSettings = ModelSettings.load(forModel: path, fingerprint: fingerprint)
                policy.retrievalHead = modelSettings?.retrievalHead
                server.setKnowledgeBase(store, source: source)
                let statistics = try? store.counts()
                log.event("knowledge base \(store.path) (\(store.backend)): \(statistics?.documents ?? 0) documents, \(statistics?.references ?? 0) references, \(statistics?.memories ?? 0) memories")
                let memoryProfile = try MemoryProfile(parsing: settings.memoryProfile)
                let encoder = try MemoryEncoder(model: model, tokenizer: tokenizer, profile: memoryProfile)
                var ingestOptions = IngestOptions()
                ingestOptions.codec = try storageCodec(memoryProfile, requested: settings.memoryCodec, model: model.config)
                ingestOptions.int8KeyLayers = modelSettings?.int8KeyLayers ?? []
                let exactKeys = ingestOptions.codec.isLowBit && !ingestOptions.int8KeyLayers.isEmpty
                    ? ", keys of the retrieval head's layer \(ingestOptions.int8KeyLayers.map(String.init).joined(separator: ",")) at int8" : ""
                log.event("memories: profile \(memoryProfile.name), codec \(ingestOptions.codec.name)\(exactKeys) for new uploads")
                if ingestOptions.codec.isLowBit && modelSettings?.retrievalHead == nil {
                    log.event("warning: no calibrated retrieval head for this model (`memory3 calibrate --set config/calibration-set.json`): "
                              + "no rerank, and new \(ingestOptions.codec.name) memories lack the head layer's int8 keys that a later rerank reads")
                }
                ingestOptions.maxFileBytes = settings.limits.maxDocumentBodyBytes
                ingestOptions.maxDocumentMemoryBytes = settings.maxDocumentMemoryMB << 20
                if let dense { backfillEmbeddings(dense, store: store, log: log) }
                prepareSearchIndex(store, log: log)
                // On a shared store an upload is not claimed by the replica that took it: whichever
                // replica is idle first claims it (and the others' rescans look every 2 s).
                ingestOptions.claimAtUpload = !shared
                let pipeline = IngestionPipeline(store: store, encoder: encoder, fingerprint: fingerprint, options: ingestOptions,
                                                 embedding: dense?.referenceEmbedding)
                server.setIngestion(pipeline, rescanInterval: settings.ingestionRescanSeconds ?? (shared ? 2 : nil))
                if shared { log.event("ingestion: shared store, pending uploads are taken by whichever replica is idle (owner \(pipeline.owner))") }
                if statistics?.documents == 0, let folder = settings.knowledgeDirectory {
                    seedKnowledge(from: folder, into: server, store: store)
                }
            } catch {
                failStart(server, "cannot open the knowledge base '\(PostgresURL.redacted(dbPath))': \(error)")
                return
            }
        }

        let engine = LanguageModelEngine(model: model, tokenizer: tokenizer, modelID: settings.effectiveModelID,
                                         aliases: [URL(fileURLWithPath: path).lastPathComponent],
                                         memorySource: source, policy: policy, promptCacheBytes: settings.promptCacheBytes)
        server.setEngine(engine)
        log.event(String(format: "model %@ (%@) loaded in %.1f s (%d threads, context %d, %d slots); ready", settings.effectiveModelID,
                         model.config.architecture, Date().timeIntervalSince(started), model.threads, model.config.contextLength,
                         server.scheduler.slots))
        if engine.chatTemplate == nil {
            log.event("warning: no usable chat template (\(engine.chatTemplateProblem ?? "?")); /v1/chat/completions answers 400")
        }
        let base = "\(settings.servesTLS ? "https" : "http")://\(settings.host):\(server.port)"
        if engine.chatTemplate == nil {
            // A base model (no chat template): the hint is a plain completion, which it serves.
            log.event("try: curl \(base)/v1/completions -H 'Content-Type: application/json' "
                      + #"-d '{"prompt":"Explicit memory is","max_tokens":32}'"#)
        } else {
            log.event("try: curl \(base)/v1/chat/completions -H 'Content-Type: application/json' "
                      + #"-d '{"messages":[{"role":"user","content":"What is explicit memory?"}]}'"#)
        }
    }

    struct StartProblem: Error, CustomStringConvertible { let description: String }

    /// The sentence encoder for dense and hybrid retrieval: loaded when configured and present; a
    /// missing one is an error only when the retriever was asked for explicitly (else BM25, logged).
    static func loadEncoder(_ settings: ServerConfiguration, threads: Int, log: RequestLog) -> Result<DenseRetrieval?, StartProblem> {
        guard settings.memoryRetriever != .bm25 else { return .success(nil) }
        let folder = settings.encoderPath
        guard let folder, FileManager.default.fileExists(atPath: folder + "/model.safetensors") else {
            if let kind = settings.memoryRetriever {
                return .failure(StartProblem(description: "memory.retriever '\(kind.rawValue)' needs the sentence encoder, which is not at '\(folder ?? "(none)")'; "
                                             + "run `scripts/fetch-model.sh minilm`"))
            }
            if let folder { log.event("no sentence encoder at \(folder)/ (scripts/fetch-model.sh minilm): retrieval is bm25 only") }
            return .success(nil)
        }
        do {
            return .success(try DenseRetrieval.load(folder: folder, threads: threads, precision: settings.encoderPrecision))
        } catch {
            return .failure(StartProblem(description: "cannot load the sentence encoder in '\(folder)': \(error)"))
        }
    }

    /// Embeds, in the background, the references stored before dense retrieval was set up (until
    /// then dense and hybrid retrieval do not see them; BM25 does).
    static func backfillEmbeddings(_ dense: DenseRetrieval, store: MemoryStore, log: RequestLog) {
        let thread = Thread {
            let started = Date()
            do {
                let done = try dense.backfill(store)
                if done > 0 { log.event(String(format: "embedded %d stored references for dense retrieval in %.1f s", done, Date().timeIntervalSince(started))) }
            } catch {
                log.event("embedding stored references stopped: \(error)")
            }
        }
        thread.start()
    }

    /// Builds, in the background, the in-memory BM25 index of a SQLite store (until it is ready,
    /// searches go to FTS5: slower, and on a large store with fewer query words).
    static func prepareSearchIndex(_ store: MemoryStore, log: RequestLog) {
        let thread = Thread {
            let started = Date()
            do {
                if try store.prepareSearchIndex() {
                    log.event(String(format: "search index of %d references built in %.1f s (%.0f MB in memory)", (try? store.counts().references) ?? 0,
                                     Date().timeIntervalSince(started), Double(store.searchIndexBytes ?? 0) / 1e6))
                }
            } catch {
                log.event("search index not built (searches use FTS5): \(error)")
            }
        }
        thread.start()
    }

    /// Queues the default knowledge base (an empty store's first start, nothing pending) and logs
    /// when it is in. Each file is keyed by its path, so a start interrupted while seeding queues
    /// each file again only in place of its pending copy.
    static func seedKnowledge(from folder: String, into server: Memory3Server, store: MemoryStore) {
        let log = server.log
        guard (try? store.ingestions(limit: 1))?.isEmpty ?? false,
              let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        var documents: [UploadedDocument] = []
        for name in names.sorted() where [".md", ".markdown", ".txt"].contains(where: { name.lowercased().hasSuffix($0) }) {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            do {
                documents.append(try UploadedDocument(title: name, source: path, bytes: Array(data), isMarkdown: !name.lowercased().hasSuffix(".txt"),
                                                      externalID: URL(fileURLWithPath: path).standardizedFileURL.path))
            } catch {
                log.event("knowledge: skipping \(path): \(error)")
            }
        }
        guard !documents.isEmpty, let records = server.ingest(documents) else { return }
        log.event("knowledge base is empty: ingesting \(records.count) documents from \(folder)/ in the background")
        let watcher = Thread {
            let started = Date()
            var final: [IngestionRecord] = []
            while true {
                final = records.compactMap { try? store.ingestion(id: $0.id) }
                if final.count < records.count || final.allSatisfy({ !$0.state.isPending }) { break }
                Thread.sleep(forTimeInterval: 0.5)
            }
            let ready = final.filter { $0.state == .ready }.count
            log.event(String(format: "knowledge: %d of %d documents from %@/ stored in %.1f s", ready, records.count, folder, Date().timeIntervalSince(started)))
            for record in final where record.state == .failed { log.event("knowledge: \(record.title) failed: \(record.error ?? "?")") }
        }
        watcher.start()
    }

    /// SIGTERM and SIGINT, blocked in every thread so that only `sigwait` sees them.
    static func blockTerminationSignals() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_BLOCK, &set, nil)
        return set
    }

    /// Blocks until SIGTERM or SIGINT; a second signal exits at once.
    static func waitForTerminationSignal(_ set: sigset_t) -> String {
        let waited = set
        var set = set
        var number: Int32 = 0
        sigwait(&set, &number)
        let second = Thread {
            var again = waited
            var n: Int32 = 0
            sigwait(&again, &n)
            FileHandle.standardError.write(Data("second \(n == SIGINT ? "SIGINT" : "SIGTERM"): exiting now\n".utf8))
            Foundation.exit(1)
        }
        second.start()
        return number == SIGINT ? "SIGINT" : "SIGTERM"
    }
}
