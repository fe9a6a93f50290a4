import Synchronization

/// Everything GET /metrics reports. Counters and histograms are updated by the request and
/// worker threads; gauges that belong to another component are read from it at render time.
public final class ServerMetrics: Sendable {
    struct RequestKey: Hashable {
        var route: String
        var method: String
        var status: Int
    }

    struct State {
        var requests: [RequestKey: Int] = [:]
        var latency: [String: Histogram] = [:]
        var firstToken = Histogram(bounds: Histogram.firstTokenBounds)
        var queueWait = Histogram(bounds: Histogram.latencyBounds)
        var promptTokens = 0
        var generatedTokens = 0
        var generations: [String: Int] = [:]
        var decodeTokensPerSecond = 0.0
        var decodeSeconds = 0.0
        var prefillSeconds = 0.0
        var queueDepth = 0
        var generating = 0
        var activeStreams = 0
        var rejected: [String: Int] = [:]
        var retrievals = 0
        var retrievalSeconds = 0.0
        var memoryChunks = 0
        var ingestions: [String: Int] = [:]
        var ingestedReferences = 0
    }

    /// Values owned elsewhere (connections, the memory store), read when /metrics is scraped.
    public struct Gauges: Sendable {
        public var openConnections = 0
        public var activeRequests = 0
        public var memoryCacheHits = 0
        public var memoryCacheMisses = 0
        public var memoryBytesLoaded = 0
        public var documents = 0
        public var references = 0
        public var memories = 0
        public var ingestionQueue = 0
        public var modelLoaded = false
        public init() {}
    }

    private let state = Mutex(State())

    public init() {}

    public func recordRequest(route: String, method: String, status: Int, seconds: Double) {
        state.withLock { s in
            s.requests[RequestKey(route: route, method: method, status: status), default: 0] += 1
            s.latency[route, default: Histogram(bounds: Histogram.latencyBounds)].observe(seconds)
        }
    }

    public func recordRejection(reason: String) {
        state.withLock { $0.rejected[reason, default: 0] += 1 }
    }

    /// A finished generation: token counts, time to first token and queue wait (seconds).
    public func recordGeneration(_ outcome: CompletionOutcome, firstToken: Double?, queueWait: Double?) {
        state.withLock { s in
            s.promptTokens += outcome.promptTokens
            s.generatedTokens += outcome.completionTokens
            s.generations[outcome.finishReason.rawValue, default: 0] += 1
            s.decodeSeconds += outcome.decodeSeconds
            s.prefillSeconds += outcome.prefillSeconds
            if outcome.decodeSeconds > 0 && outcome.completionTokens > 1 {
                s.decodeTokensPerSecond = Double(outcome.completionTokens) / outcome.decodeSeconds
            }
            if let firstToken { s.firstToken.observe(firstToken) }
            if let queueWait { s.queueWait.observe(queueWait) }
            if outcome.memoryMode != .off {
                s.retrievals += outcome.memoryChunks.count
                s.memoryChunks += outcome.memoryChunks.count
                s.retrievalSeconds += outcome.retrievalSeconds
            }
        }
    }

    /// A finished ingestion: its final status and the references it stored.
    public func recordIngestion(status: String, references: Int) {
        state.withLock { s in
            s.ingestions[status, default: 0] += 1
            s.ingestedReferences += references
        }
    }

    public func setQueue(depth: Int, generating: Int) {
        state.withLock { s in
            s.queueDepth = depth
            s.generating = generating
        }
    }

    public func streamStarted() { state.withLock { $0.activeStreams += 1 } }
    public func streamEnded() { state.withLock { $0.activeStreams -= 1 } }

    /// Prometheus text exposition of everything.
    public func render(_ gauges: Gauges) -> String {
        let s = state.withLock { $0 }
        var p = PrometheusText()
        p.family("memory3_http_requests_total", type: "counter", help: "HTTP requests answered, by route, method and status.")
        for (key, count) in s.requests.sorted(by: { ($0.key.route, $0.key.method, $0.key.status) < ($1.key.route, $1.key.method, $1.key.status) }) {
            p.sample("memory3_http_requests_total", [("route", key.route), ("method", key.method), ("status", String(key.status))], Double(count))
        }
        p.family("memory3_http_request_duration_seconds", type: "histogram", help: "Time from a request's first byte to the end of its response.")
        for (route, h) in s.latency.sorted(by: { $0.key < $1.key }) {
            p.histogram("memory3_http_request_duration_seconds", [("route", route)], h)
        }
        p.family("memory3_http_rejected_total", type: "counter", help: "Requests refused before reaching a route, by reason.")
        for (reason, count) in s.rejected.sorted(by: { $0.key < $1.key }) {
            p.sample("memory3_http_rejected_total", [("reason", reason)], Double(count))
        }
        p.family("memory3_time_to_first_token_seconds", type: "histogram", help: "Time from a completion request's arrival to its first generated text.")
        p.histogram("memory3_time_to_first_token_seconds", [], s.firstToken)
        p.family("memory3_queue_wait_seconds", type: "histogram", help: "Time a generation waited in the queue.")
        p.histogram("memory3_queue_wait_seconds", [], s.queueWait)
        p.family("memory3_prompt_tokens_total", type: "counter", help: "Prompt tokens processed.")
        p.sample("memory3_prompt_tokens_total", [], Double(s.promptTokens))
        p.family("memory3_generated_tokens_total", type: "counter", help: "Tokens generated.")
        p.sample("memory3_generated_tokens_total", [], Double(s.generatedTokens))
        p.family("memory3_generations_total", type: "counter", help: "Generations finished, by finish reason.")
        for (reason, count) in s.generations.sorted(by: { $0.key < $1.key }) {
            p.sample("memory3_generations_total", [("finish_reason", reason)], Double(count))
        }
        p.family("memory3_prefill_seconds_total", type: "counter", help: "Time spent reading prompts.")
        p.sample("memory3_prefill_seconds_total", [], s.prefillSeconds)
        p.family("memory3_decode_seconds_total", type: "counter", help: "Time spent generating tokens.")
        p.sample("memory3_decode_seconds_total", [], s.decodeSeconds)
        p.family("memory3_decode_tokens_per_second", type: "gauge", help: "Decode speed of the latest generation.")
        p.sample("memory3_decode_tokens_per_second", [], s.decodeTokensPerSecond)
        p.family("memory3_queue_depth", type: "gauge", help: "Generations waiting for the worker.")
        p.sample("memory3_queue_depth", [], Double(s.queueDepth))
        p.family("memory3_generations_running", type: "gauge", help: "Generations running (0 or 1).")
        p.sample("memory3_generations_running", [], Double(s.generating))
        p.family("memory3_active_streams", type: "gauge", help: "Streaming responses in progress.")
        p.sample("memory3_active_streams", [], Double(s.activeStreams))
        p.family("memory3_open_connections", type: "gauge", help: "Open client connections.")
        p.sample("memory3_open_connections", [], Double(gauges.openConnections))
        p.family("memory3_active_requests", type: "gauge", help: "Requests being answered.")
        p.sample("memory3_active_requests", [], Double(gauges.activeRequests))
        p.family("memory3_model_loaded", type: "gauge", help: "1 once the model is loaded.")
        p.sample("memory3_model_loaded", [], gauges.modelLoaded ? 1 : 0)
        p.family("memory3_retrievals_total", type: "counter", help: "Memory retrievals (one per 64-token chunk that read memory).")
        p.sample("memory3_retrievals_total", [], Double(s.retrievals))
        p.family("memory3_retrieval_seconds_total", type: "counter", help: "Time spent retrieving and loading memories.")
        p.sample("memory3_retrieval_seconds_total", [], s.retrievalSeconds)
        p.family("memory3_memory_cache_hits_total", type: "counter", help: "Decoded memories found in the memory cache.")
        p.sample("memory3_memory_cache_hits_total", [], Double(gauges.memoryCacheHits))
        p.family("memory3_memory_cache_misses_total", type: "counter", help: "Decoded memories loaded from the store.")
        p.sample("memory3_memory_cache_misses_total", [], Double(gauges.memoryCacheMisses))
        p.family("memory3_memory_cache_bytes", type: "gauge", help: "Bytes of decoded memory held in the memory cache.")
        p.sample("memory3_memory_cache_bytes", [], Double(gauges.memoryBytesLoaded))
        p.family("memory3_documents", type: "gauge", help: "Documents in the knowledge base.")
        p.sample("memory3_documents", [], Double(gauges.documents))
        p.family("memory3_references", type: "gauge", help: "References (memory-sized chunks of documents) in the knowledge base.")
        p.sample("memory3_references", [], Double(gauges.references))
        p.family("memory3_memories", type: "gauge", help: "Encoded memories in the knowledge base.")
        p.sample("memory3_memories", [], Double(gauges.memories))
        p.family("memory3_ingestion_queue", type: "gauge", help: "Documents waiting to be encoded.")
        p.sample("memory3_ingestion_queue", [], Double(gauges.ingestionQueue))
        p.family("memory3_ingestions_total", type: "counter", help: "Document ingestions finished, by final status (ready, skipped, failed, cancelled).")
        for (status, count) in s.ingestions.sorted(by: { $0.key < $1.key }) {
            p.sample("memory3_ingestions_total", [("status", status)], Double(count))
        }
        p.family("memory3_ingested_references_total", type: "counter", help: "References encoded and stored by ingestion.")
        p.sample("memory3_ingested_references_total", [], Double(s.ingestedReferences))
        return p.output
    }
}
