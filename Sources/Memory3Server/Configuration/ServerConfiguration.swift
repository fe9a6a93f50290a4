import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model

/// Every setting of `memory3 serve`. Defaults are here; config/memory3.json (documented in
/// config/README.md) overrides them, environment variables override the file, and command-line
/// flags override both.
public struct ServerConfiguration: Sendable, Equatable {
    // server
    public var host = "127.0.0.1"
    public var port = 8080
    public var backlog: Int32 = 512
    public var gzipMinimumBytes = 1024
    /// On SIGTERM/SIGINT: how long requests in flight may run before they are cancelled.
    public var shutdownGraceSeconds = 30.0
    /// Origins whose pages may call the API from a browser (CORS); none by default, "*" for any.
    public var corsOrigins: [String] = []
    public var limits = HTTPLimits()
    // model
    public var modelPath = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
    /// The id clients send as `model`; nil: the file name without `.gguf`.
    public var modelID: String?
    public var threads: Int?
    // generation
    /// Generations that run at once, batched together; nil: as many as the KV budget holds at
    /// 4,096 tokens each (at least 4, at most 64).
    public var slots: Int?
    /// Bytes the running generations' key/values may take together; a request waits while its
    /// own would not fit beside them.
    public var kvCacheBytes = 2048 << 20
    /// Bytes of finished generations' key/values kept for prompt reuse (0: no prompt cache).
    public var promptCacheBytes = 256 << 20
    /// Prompt tokens read per batched step, across the generations reading prompts: a long
    /// prompt holds up the others' next tokens for at most one such piece.
    public var prefillChunkTokens = 128
    /// Generations that may wait for a slot (429 beyond).
    public var queueCapacity = 16
    /// A completion's deadline, from arrival (queue wait included).
    public var requestTimeoutSeconds = 300.0
    /// max_tokens when a request gives none.
    public var defaultMaxTokens = 256
    /// The most tokens one request may ask for (the context length also bounds it).
    public var maxTokensLimit = 4096
    // memory
    /// The knowledge base (`memory.store`): an SQLite file (`PATH` or `sqlite:PATH`, created when
    /// missing) or a PostgreSQL server that replicas share (`postgres://user:password@host:port/db`);
    /// nil runs without memory.
    public var databasePath: String? = "data/memory3.sqlite"
    /// Seconds between looks for pending ingestions that no live replica carries; nil: 2 s on a
    /// shared (PostgreSQL) store, where idle replicas take queued uploads, 30 s on SQLite.
    public var ingestionRescanSeconds: Double?
    /// Memory mode when a request gives none.
    public var defaultMemoryMode = MemoryMode.explicit
    public var defaultMemoryK = 5
    public var maxMemoryK = 32
    /// The memory profile whose memories generation reads (the one documents were ingested with).
    public var memoryProfile = "dense"
    /// The codec uploads are stored with (`fp16`, `int8`, `int4`, `int3`, `int2`, `int3r`, `int2r`);
    /// nil: the profile's own (compact), else the model's own (`MemoryCodec.modelDefault`: int3r for
    /// llama, int2 for Gemma 3, int8 for others). Memories already stored keep theirs (a blob names
    /// its codec).
    public var memoryCodec: String?
    /// How references are retrieved when a request names no retriever; nil: hybrid when the
    /// sentence encoder is present, else bm25.
    public var memoryRetriever: RetrieverKind?
    /// The sentence encoder's folder (dense and hybrid retrieval); nil: none, BM25 only.
    public var encoderPath: String? = "models/all-MiniLM-L6-v2"
    /// The sentence encoder's linear layers: bfloat16 (~2.3x as fast at a swap with AVX-512 BF16)
    /// or float32 (sentence-transformers' numbers). Stored vectors of either serve the other.
    public var encoderPrecision = SentenceEncoder.Precision.bfloat16
    /// Documents (.md, .markdown, .txt) ingested when the knowledge base is empty; nil: none.
    public var knowledgeDirectory: String? = "knowledge"
    /// Uploaded documents that may wait for encoding (429 beyond).
    public var maxPendingIngestions = 64
    /// The most one document's stored memories may take (a larger one fails after its first
    /// reference, before it fills the disk).
    public var maxDocumentMemoryMB = 2048
    // auth
    public var apiKeys: [String] = []
    /// Also take keys (comma-separated) from this environment variable.
    public var apiKeysEnvironmentVariable = "MEMORY3_API_KEYS"
    /// Whether GET /metrics needs a key too.
    public var protectMetrics = false
    // tls
    public var tlsCertificate: String?
    public var tlsKey: String?
    // log
    /// One line per request on stderr.
    public var logRequests = true
    /// `text` lines for people, `json` (one object per line) for log pipelines.
    public var logFormat = RequestLog.Format.text

    public init() {}

    /// The settings with `config` (a JSON file's bytes) applied.
    public static func load(json: [UInt8], file: String = "config") throws(ConfigurationError) -> ServerConfiguration {
        var configuration = ServerConfiguration()
        do {
            let root = try JSONValue.parseObject(json)
            try configuration.apply(root)
        } catch {
            throw ConfigurationError(file: file, message: error.description)
        }
        return configuration
    }

    public static func load(path: String) throws(ConfigurationError) -> ServerConfiguration {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(file: path, message: "cannot read the file")
        }
        return try load(json: Array(data), file: path)
    }

    static let sections: [String: Set<String>] = [
        "server": ["host", "port", "backlog", "gzip_min_bytes", "shutdown_grace_s", "cors_origins"],
        "limits": ["max_header_bytes", "max_header_count", "max_completion_body_bytes", "max_document_body_bytes",
                   "max_chunk_line_bytes", "max_connections", "max_connections_per_client", "request_threads", "header_timeout_s", "body_timeout_s", "idle_timeout_s",
                   "write_timeout_s", "linger_timeout_s"],
        "model": ["path", "id", "threads"],
        "generation": ["slots", "kv_cache_mib", "prompt_cache_mib", "prefill_chunk_tokens", "queue_capacity", "request_timeout_s",
                       "default_max_tokens", "max_tokens_limit"],
        "memory": ["store", "db", "rescan_s", "default_mode", "default_k", "max_k", "profile", "codec", "max_pending_ingestions", "knowledge_dir",
                   "max_document_memory_mb", "retriever", "encoder", "encoder_precision"],
        "auth": ["api_keys", "api_keys_env", "protect_metrics"],
        "tls": ["cert", "key"],
        "log": ["requests", "format"],
    ]

    mutating func apply(_ root: JSONObject) throws(APIError) {
        for key in root.fields.keys where !key.hasPrefix("_") {
            guard Self.sections[key] != nil else {
                throw .invalidRequest("unknown section '\(key)' (known: \(Self.sections.keys.sorted().joined(separator: ", ")))")
            }
        }
        for (name, known) in Self.sections {
            guard let section = try root.object(name) else { continue }
            for key in section.fields.keys where !key.hasPrefix("_") && !known.contains(key) {
                throw .invalidRequest("unknown setting '\(name).\(key)' (known: \(known.sorted().joined(separator: ", ")))")
            }
        }
        let big = 1 << 40
        if let s = try root.object("server") {
            host = try s.string("host") ?? host
            port = try s.int("port", in: 0...65535) ?? port
            backlog = Int32(try s.int("backlog", in: 1...65535) ?? Int(backlog))
            gzipMinimumBytes = try s.int("gzip_min_bytes", in: 0...big) ?? gzipMinimumBytes
            shutdownGraceSeconds = try s.double("shutdown_grace_s", in: 0...3600) ?? shutdownGraceSeconds
            if let origins = try s.array("cors_origins") {
                corsOrigins = []
                for origin in origins {
                    guard case .string(let text) = origin, CORSPolicy.isValidOrigin(text) else {
                        throw .invalidRequest("'server.cors_origins' must hold \"*\" or origins like \"https://app.example.com\" (scheme, host, optional port; no path)")
                    }
                    corsOrigins.append(text)
                }
            }
        }
        if let l = try root.object("limits") {
            limits.maxHeaderBytes = try l.int("max_header_bytes", in: 256...(1 << 20)) ?? limits.maxHeaderBytes
            limits.maxHeaderCount = try l.int("max_header_count", in: 1...10_000) ?? limits.maxHeaderCount
            limits.maxCompletionBodyBytes = try l.int("max_completion_body_bytes", in: 0...big) ?? limits.maxCompletionBodyBytes
            limits.maxDocumentBodyBytes = try l.int("max_document_body_bytes", in: 0...big) ?? limits.maxDocumentBodyBytes
            limits.maxChunkLineBytes = try l.int("max_chunk_line_bytes", in: 16...(1 << 20)) ?? limits.maxChunkLineBytes
            limits.maxConnections = try l.int("max_connections", in: 1...1_000_000) ?? limits.maxConnections
            limits.maxConnectionsPerClient = try l.int("max_connections_per_client", in: 1...1_000_000) ?? limits.maxConnectionsPerClient
            limits.maxRequestThreads = try l.int("request_threads", in: 1...10_000) ?? limits.maxRequestThreads
            limits.headerTimeout = try l.double("header_timeout_s", in: 0.01...3600) ?? limits.headerTimeout
            limits.bodyTimeout = try l.double("body_timeout_s", in: 0.01...3600) ?? limits.bodyTimeout
            limits.idleTimeout = try l.double("idle_timeout_s", in: 0.01...86400) ?? limits.idleTimeout
            limits.writeTimeout = try l.double("write_timeout_s", in: 0.01...3600) ?? limits.writeTimeout
            limits.lingerTimeout = try l.double("linger_timeout_s", in: 0...60) ?? limits.lingerTimeout
        }
        if let m = try root.object("model") {
            modelPath = try m.string("path") ?? modelPath
            modelID = try m.string("id") ?? modelID
            threads = try m.int("threads", in: 1...256) ?? threads
        }
        if let g = try root.object("generation") {
            if g.fields["slots"] == .null { slots = nil } else { slots = try g.int("slots", in: 1...1024) ?? slots }
            kvCacheBytes = (try g.int("kv_cache_mib", in: 16...(1 << 20))).map { $0 << 20 } ?? kvCacheBytes
            promptCacheBytes = (try g.int("prompt_cache_mib", in: 0...(1 << 20))).map { $0 << 20 } ?? promptCacheBytes
            prefillChunkTokens = try g.int("prefill_chunk_tokens", in: 1...4096) ?? prefillChunkTokens
            queueCapacity = try g.int("queue_capacity", in: 0...100_000) ?? queueCapacity
            requestTimeoutSeconds = try g.double("request_timeout_s", in: 0.01...86400) ?? requestTimeoutSeconds
            defaultMaxTokens = try g.int("default_max_tokens", in: 1...1_000_000) ?? defaultMaxTokens
            maxTokensLimit = try g.int("max_tokens_limit", in: 1...1_000_000) ?? maxTokensLimit
        }
        if let m = try root.object("memory") {
            // `db` is the older name of `store`.
            if m.fields["store"] != nil, m.fields["db"] != nil {
                throw .invalidRequest("'memory.store' and 'memory.db' name the same setting; keep 'memory.store'")
            }
            let storeKey = m.fields["db"] != nil ? "db" : "store"
            if m.fields[storeKey] == .null { databasePath = nil } else { databasePath = try m.string(storeKey) ?? databasePath }
            ingestionRescanSeconds = try m.double("rescan_s", in: 0.1...3600) ?? ingestionRescanSeconds
            if let mode = try m.string("default_mode") {
                guard let parsed = MemoryMode(rawValue: mode) else {
                    throw .invalidRequest("'memory.default_mode' must be explicit, text or off")
                }
                defaultMemoryMode = parsed
            }
            defaultMemoryK = try m.int("default_k", in: 1...256) ?? defaultMemoryK
            maxMemoryK = try m.int("max_k", in: 1...256) ?? maxMemoryK
            memoryProfile = try m.string("profile") ?? memoryProfile
            if let codec = try m.string("codec") {
                guard (try? MemoryCodec(parsing: codec)) != nil else {
                    throw .invalidRequest("'memory.codec' must be fp16, int8, int4, int3, int2, int3r or int2r")
                }
                memoryCodec = codec
            }
            if let retriever = try m.string("retriever") {
                guard let kind = RetrieverKind(rawValue: retriever) else {
                    throw .invalidRequest("'memory.retriever' must be bm25, dense or hybrid")
                }
                memoryRetriever = kind
            }
            if m.fields["encoder"] == .null { encoderPath = nil } else { encoderPath = try m.string("encoder") ?? encoderPath }
            if let precision = try m.string("encoder_precision") {
                guard let value = SentenceEncoder.Precision(rawValue: precision) else {
                    throw .invalidRequest("'memory.encoder_precision' must be bfloat16 or float32")
                }
                encoderPrecision = value
            }
            if m.fields["knowledge_dir"] == .null { knowledgeDirectory = nil } else {
                knowledgeDirectory = try m.string("knowledge_dir") ?? knowledgeDirectory
            }
            maxPendingIngestions = try m.int("max_pending_ingestions", in: 1...100_000) ?? maxPendingIngestions
            maxDocumentMemoryMB = try m.int("max_document_memory_mb", in: 1...(1 << 30)) ?? maxDocumentMemoryMB
        }
        if let a = try root.object("auth") {
            if let keys = try a.array("api_keys") {
                apiKeys = []
                for key in keys {
                    guard case .string(let s) = key, !s.isEmpty else { throw .invalidRequest("'auth.api_keys' must be an array of non-empty strings") }
                    apiKeys.append(s)
                }
            }
            apiKeysEnvironmentVariable = try a.string("api_keys_env") ?? apiKeysEnvironmentVariable
            protectMetrics = try a.bool("protect_metrics") ?? protectMetrics
        }
        if let t = try root.object("tls") {
            tlsCertificate = try t.string("cert") ?? tlsCertificate
            tlsKey = try t.string("key") ?? tlsKey
        }
        if let l = try root.object("log") {
            logRequests = try l.bool("requests") ?? logRequests
            if let format = try l.string("format") {
                guard let parsed = RequestLog.Format(rawValue: format) else {
                    throw .invalidRequest("'log.format' must be \"text\" or \"json\"")
                }
                logFormat = parsed
            }
        }
    }

    /// Applies MEMORY3_* environment variables (see config/README.md).
    public mutating func applyEnvironment(_ environment: [String: String]) throws(ConfigurationError) {
        func int(_ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let raw = environment[name] else { return nil }
            guard let value = Int(raw), range.contains(value) else {
                throw ConfigurationError(file: "environment", message: "\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), not '\(raw)'")
            }
            return value
        }
        if let host = environment["MEMORY3_HOST"] { self.host = host }
        if let port = try int("MEMORY3_PORT", 0...65535) { self.port = port }
        if let model = environment["MEMORY3_MODEL"] { modelPath = model }
        if let db = environment["MEMORY3_STORE"] ?? environment["MEMORY3_DB"] { databasePath = db.isEmpty ? nil : db }
        if let threads = try int("MEMORY3_THREADS", 1...256) { self.threads = threads }
        if let cert = environment["MEMORY3_TLS_CERT"] { tlsCertificate = cert.isEmpty ? nil : cert }
        if let key = environment["MEMORY3_TLS_KEY"] { tlsKey = key.isEmpty ? nil : key }
        if let capacity = try int("MEMORY3_QUEUE_CAPACITY", 0...100_000) { queueCapacity = capacity }
        if let slots = try int("MEMORY3_SLOTS", 1...1024) { self.slots = slots }
        if let format = environment["MEMORY3_LOG_FORMAT"] {
            guard let parsed = RequestLog.Format(rawValue: format) else {
                throw ConfigurationError(file: "environment", message: "MEMORY3_LOG_FORMAT must be text or json, not '\(format)'")
            }
            logFormat = parsed
        }
        if let keys = environment[apiKeysEnvironmentVariable] {
            apiKeys += keys.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    /// Slots for a model whose context tokens take `kvBytesPerToken` each: the configured
    /// count, or as many 4,096-token contexts as the KV budget holds (4 to 64).
    public func slotCount(kvBytesPerToken: Int, contextLength: Int) -> Int {
        if let slots { return slots }
        let perSlot = max(1, kvBytesPerToken * min(contextLength, 4096))
        return min(64, max(4, kvCacheBytes / perSlot))
    }

    /// Whether the server speaks HTTPS (both `tls.cert` and `tls.key` set).
    public var servesTLS: Bool { tlsCertificate != nil && tlsKey != nil }

    /// The TLS context for `tls.cert` and `tls.key`: nil when neither is set; throws when only
    /// one is, or when they cannot be loaded.
    public func makeTLSContext() throws -> TLSContext? {
        switch (tlsCertificate, tlsKey) {
        case (nil, nil): return nil
        case (let cert?, let key?): return try TLSContext(certificatePath: cert, keyPath: key)
        case (nil, _): throw TLSError("tls.key is set but tls.cert is not: HTTPS needs both")
        case (_, nil): throw TLSError("tls.cert is set but tls.key is not: HTTPS needs both")
        }
    }

    /// The model id clients use: the configured one, or the file name without `.gguf`.
    public var effectiveModelID: String {
        if let modelID { return modelID }
        var name = URL(fileURLWithPath: modelPath).lastPathComponent
        if name.hasSuffix(".gguf") { name.removeLast(5) }
        return name
    }

    public var httpConfiguration: HTTPServerConfiguration {
        var c = HTTPServerConfiguration(host: host, port: port, limits: limits)
        c.backlog = backlog
        c.gzipMinimumBytes = gzipMinimumBytes
        return c
    }
}

/// A configuration that cannot be used, with where and why.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let file: String
    public let message: String
    public var description: String { "\(file): \(message)" }
}
