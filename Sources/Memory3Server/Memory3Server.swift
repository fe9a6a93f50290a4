import Foundation
import Memory3Engine
import Memory3Memory
import MemoryStore
import Synchronization

/// The whole server: HTTP layer, routes, generation queue and metrics. Start it, hand it the
/// model when it has loaded (it answers /health and 503s before), and shut it down on a signal.
public final class Memory3Server: Sendable {
    public let configuration: ServerConfiguration
    public let metrics = ServerMetrics()
    public let scheduler: GenerationScheduler
    public let log: RequestLog
    /// Document uploads: recorded, encoded on the generation worker, resumed after a restart.
    let ingestion: IngestionService
    let http: HTTPServer
    /// Every route, for the OpenAPI check.
    let routeTable: [Route]
    private let state = ServerState()

    public init(configuration: ServerConfiguration, engine: LanguageModelEngine? = nil, log: RequestLog? = nil) {
        self.configuration = configuration
        let metrics = self.metrics
        self.log = log ?? RequestLog(enabled: configuration.logRequests, format: configuration.logFormat)
        self.scheduler = GenerationScheduler(slots: configuration.slots ?? 4, queueCapacity: configuration.queueCapacity,
                                             promptBudget: configuration.prefillChunkTokens,
                                             kvBudgetBytes: configuration.kvCacheBytes, metrics: metrics)
        let state = self.state
        let ingestion = IngestionService(scheduler: scheduler, metrics: metrics, log: self.log,
                                         maxPending: configuration.maxPendingIngestions)
        self.ingestion = ingestion
        state.engine.withLock { $0 = engine }
        let currentEngine: @Sendable () -> LanguageModelEngine? = { state.engine.withLock { $0 } }
        let completions = CompletionService(configuration: configuration, scheduler: scheduler, metrics: metrics, engine: currentEngine)
        let httpBox = HTTPServerBox()
        let system = SystemRoutes(
            metrics: metrics,
            gauges: {
                var g = ServerMetrics.Gauges()
                g.openConnections = httpBox.server?.openConnectionCount ?? 0
                g.activeRequests = httpBox.server?.activeRequestCount ?? 0
                g.modelLoaded = currentEngine() != nil
                g.ingestionQueue = ingestion.live.count
                // Kept on write by the store: one small read, not a scan (scrapes must not slow retrieval).
                if let store = state.store.withLock({ $0 }), let counts = try? store.counts() {
                    g.documents = counts.documents
                    g.references = counts.references
                    g.memories = counts.memories
                }
                if let cache = state.memorySource.withLock({ $0 })?.cacheStatistics {
                    g.memoryCacheHits = cache.hits
                    g.memoryCacheMisses = cache.misses
                    g.memoryBytesLoaded = cache.bytes
                }
                return g
            },
            engine: currentEngine,
            notReadyReason: {
                if httpBox.server?.isDraining == true { return "shutting down" }
                if let problem = state.loadProblem.withLock({ $0 }) { return problem }
                return currentEngine() == nil ? "the model is loading" : nil
            },
            protectMetrics: configuration.protectMetrics)

        var router = Router()
        for route in system.routes() { router.add(route) }
        for route in TokenizerRoutes(engine: currentEngine).routes() { router.add(route) }
        for route in EmbeddingRoutes(engine: currentEngine).routes() { router.add(route) }
        router.add(PlaygroundPage.route())
        router.add(Route("GET", "/openapi.json", requiresKey: false) { _ throws(APIError) in
            .text(OpenAPIDocument.json, contentType: "application/json")
        })
        router.add(Route("POST", "/v1/completions") { request throws(APIError) in try completions.handle(request, kind: .text) })
        router.add(Route("POST", "/v1/chat/completions") { request throws(APIError) in try completions.handle(request, kind: .chat) })
        let documents = DocumentRoutes(
            store: { state.store.withLock { $0 } }, ingestion: ingestion,
            source: { state.memorySource.withLock { $0 } },
            defaultK: configuration.defaultMemoryK, maxK: configuration.maxMemoryK)
        for route in documents.routes() { router.add(route) }

        routeTable = router.routes
        let keys = APIKeyAuthenticator(keys: configuration.apiKeys)
        let api = APIServer(router: router, limits: configuration.limits, authenticator: keys, metrics: metrics, log: self.log,
                            cors: CORSPolicy(origins: configuration.corsOrigins))
        http = HTTPServer(configuration: configuration.httpConfiguration, handler: api)
        httpBox.server = http
        if let engine { configureSlots(for: engine) }
    }

    /// Loads the TLS certificate when one is configured, binds the port and starts serving.
    /// Throws if the certificate cannot be used or the address is taken or invalid.
    public func start() throws {
        let tls = try configuration.makeTLSContext()
        try http.start(tls: tls)
        log.event("listening on \(tls == nil ? "http" : "https")://\(configuration.host):\(http.port)")
    }

    /// The bound port (useful when configured as 0).
    public var port: Int { http.port }

    /// Makes the model available (completions answer 503 until then).
    public func setEngine(_ engine: LanguageModelEngine) {
        configureSlots(for: engine)
        state.engine.withLock { $0 = engine }
    }

    private func configureSlots(for engine: LanguageModelEngine) {
        scheduler.configure(slots: configuration.slotCount(kvBytesPerToken: engine.kvBytesPerToken, contextLength: engine.contextLength),
                            kvBudgetBytes: configuration.kvCacheBytes)
    }

    /// Opens the knowledge base to the document and retrieval routes; with a memory source
    /// (which needs the model's fingerprint) its cache statistics show in /metrics.
    public func setKnowledgeBase(_ store: MemoryStore, source: StoreMemorySource? = nil) {
        state.store.withLock { $0 = store }
        if let source { state.memorySource.withLock { $0 = source } }
    }

    /// Records documents and queues them for encoding, as an upload would (nil before
    /// `setIngestion`, or when they cannot be recorded).
    @discardableResult
    public func ingest(_ documents: [UploadedDocument]) -> [IngestionRecord]? {
        do {
            return try ingestion.enqueue(documents, replacing: nil)
        } catch {
            log.event("ingestion: cannot queue \(documents.count) documents: \(error)")
            return nil
        }
    }

    /// Lets uploads be encoded (needs the model and the store), and resumes the ingestions a
    /// stopped server left pending.
    /// `rescanInterval`: seconds between looks for pending ingestions no live process carries
    /// (nil: the default, 30 s).
    public func setIngestion(_ pipeline: IngestionPipeline, rescanInterval: Double? = nil) {
        ingestion.start(pipeline, rescanInterval: rescanInterval ?? IngestionService.rescanInterval)
    }

    /// Records why the model could not load (/ready reports it).
    public func setLoadFailure(_ message: String) {
        state.loadProblem.withLock { $0 = message }
    }

    /// Why the model or the knowledge base could not load, if that happened.
    public var loadFailure: String? { state.loadProblem.withLock { $0 } }

    public var engine: LanguageModelEngine? { state.engine.withLock { $0 } }

    /// Stops accepting, lets requests in flight finish for up to `grace` seconds, then cancels
    /// the generations still running. Returns when the server has stopped.
    public func shutdown(grace: Double? = nil) {
        let scheduler = self.scheduler
        http.shutdown(grace: grace ?? configuration.shutdownGraceSeconds) { scheduler.cancelAll() }
        scheduler.stop()
        // Pending ingestions this server carried are handed back, so that a replica sharing the
        // store (or the next start) takes them at once rather than after the heartbeat goes stale.
        if let pipeline = ingestion.pipeline, let released = try? pipeline.store.releaseIngestions(owner: pipeline.owner), released > 0 {
            log.event("ingestion: handed back \(released) pending ingestion\(released == 1 ? "" : "s") for another process to finish")
        }
        // Nothing uses the store any more: closing it checkpoints the WAL into the database file,
        // so a stopped server leaves one self-contained file behind.
        state.store.withLock { $0 }?.close()
    }
}

/// What changes while the server runs: the model (once loaded) and why it failed to load.
final class ServerState: Sendable {
    let engine = Mutex<LanguageModelEngine?>(nil)
    let loadProblem = Mutex<String?>(nil)
    let store = Mutex<MemoryStore?>(nil)
    let memorySource = Mutex<StoreMemorySource?>(nil)
}

/// Lets route closures reach the HTTP server, which is made after them.
final class HTTPServerBox: @unchecked Sendable {
    var server: HTTPServer?
}
