import Foundation
import Memory3Engine
import MemoryStore

/// The knowledge-base routes: upload (202, then encoded in the background), list, inspect,
/// replace and delete documents, and see what the retriever would pick for a query. Without a
/// store they answer 503.
struct DocumentRoutes: Sendable {
    let store: @Sendable () -> MemoryStore?
    /// The ingestion pipeline, once the model has loaded.
    let pipeline: @Sendable () -> (any DocumentPipeline)?
    let scheduler: GenerationScheduler
    let registry: IngestionRegistry
    let maxPendingIngestions: Int
    let metrics: ServerMetrics
    /// The memory profile whose memories generation reads (retrieval inspection filters on it).
    let profile: @Sendable () -> String?
    let defaultK: Int
    let maxK: Int

    static let noStore = APIError.unavailable(
        "no knowledge base is open: start the server with --db FILE (or memory.db in the config) to use documents and retrieval")
    static let noPipeline = APIError.unavailable("documents cannot be encoded until the model has loaded; retry shortly")

    struct Document: Encodable {
        let id: Int64
        let object = "document"
        let title: String
        let source: String
        let sha256: String
        let bytes: Int
        let references: Int
        let created_at: Int
        let status = "ready"
        var items: [Item]?

        init(_ s: DocumentSummary, items: [Item]? = nil) {
            id = s.id
            title = s.title
            source = s.source
            sha256 = s.sha256
            bytes = s.bytes
            references = s.referenceCount
            created_at = Int(s.createdAt.timeIntervalSince1970)
            self.items = items
        }
    }

    struct Item: Encodable {
        let id: Int64
        let ordinal: Int
        let token_count: Int
        var text: String?
    }

    struct DocumentList: Encodable {
        let object = "list"
        let data: [Document]
        let has_more: Bool
    }

    struct Deleted: Encodable {
        let id: Int64
        let object = "document"
        let deleted = true
    }

    struct Hit: Encodable {
        let rank: Int
        let reference_id: Int64
        let document_id: Int64
        let score: Double
        let text: String?
        let document_title: String?
    }

    struct Retrieval: Encodable {
        let object = "list"
        let query: String
        let k: Int
        let data: [Hit]
    }

    func routes() -> [Route] {
        [
            Route("POST", "/v1/documents", bodyLimit: .document) { request throws(APIError) in try upload(request, replacing: nil) },
            Route("PUT", "/v1/documents/{id}", bodyLimit: .document) { request throws(APIError) in
                let store = try openStore()
                let id = try Self.documentID(request)
                guard try Self.storeCall({ () throws(MemoryStoreError) in try store.document(id: id) }) != nil else {
                    throw .notFound("no document with id \(id)")
                }
                return try upload(request, replacing: id)
            },
            Route("GET", "/v1/documents") { request throws(APIError) in try list(request) },
            Route("GET", "/v1/documents/{id}") { request throws(APIError) in try show(request) },
            Route("DELETE", "/v1/documents/{id}") { request throws(APIError) in try delete(request) },
            Route("POST", "/v1/retrieve") { request throws(APIError) in try retrieve(request) },
        ]
    }

    func openStore() throws(APIError) -> MemoryStore {
        guard let store = store() else { throw Self.noStore }
        return store
    }

    struct Ingestions: Encodable {
        let object = "list"
        let data: [DocumentIngestion.Snapshot]
    }

    /// Queues the uploaded documents for encoding and answers 202 with where to follow them.
    func upload(_ request: RouteRequest, replacing: Int64?) throws(APIError) -> HTTPResponse {
        _ = try openStore()
        guard let pipeline = pipeline() else { throw Self.noPipeline }
        let documents = try DocumentUploadParser.documents(in: request.http)
        if replacing != nil && documents.count != 1 {
            throw .invalidRequest("a replacement must hold exactly one document, not \(documents.count)")
        }
        guard registry.pendingCount + documents.count <= maxPendingIngestions else {
            throw .queueFull(capacity: maxPendingIngestions, retryAfter: 10)
        }
        let jobs = documents.map {
            DocumentIngestion(id: IngestionRegistry.newID(), document: $0, replacing: replacing, pipeline: pipeline,
                              onFinish: { [metrics] status, references in metrics.recordIngestion(status: status.rawValue, references: references) })
        }
        for job in jobs {
            registry.add(job)
            scheduler.submitBackground(job)
        }
        if jobs.count == 1, let job = jobs.first {
            return .json(job.snapshot, status: .accepted, headers: HTTPHeaders([("Location", job.snapshot.status_url)]))
        }
        return .json(Ingestions(data: jobs.map(\.snapshot)), status: .accepted)
    }

    func list(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        let store = try openStore()
        let query = QueryParameters(request.http.head.query)
        let limit = try query.int("limit", in: 1...10_000) ?? 100
        let offset = try query.int("offset", in: 0...Int(Int32.max)) ?? 0
        let documents = try Self.storeCall { () throws(MemoryStoreError) in try store.documents(limit: limit + 1, offset: offset) }
        return .json(DocumentList(data: documents.prefix(limit).map { Document($0) }, has_more: documents.count > limit))
    }

    func show(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        let store = try openStore()
        if let raw = request.parameters["id"], raw.hasPrefix("ing_") {
            guard let job = registry.job(raw) else { throw .notFound("no ingestion with id '\(raw)' (finished ones are kept for a while)") }
            return .json(job.snapshot)
        }
        let id = try Self.documentID(request)
        let withText = QueryParameters(request.http.head.query).values["include"]?.split(separator: ",").contains("text") == true
        guard let detail = try Self.storeCall({ () throws(MemoryStoreError) in try store.document(id: id) }) else {
            throw .notFound("no document with id \(id)")
        }
        let items = detail.references.map { Item(id: $0.id, ordinal: $0.ordinal, token_count: $0.tokenCount, text: withText ? $0.text : nil) }
        return .json(Document(detail.summary, items: items))
    }

    func delete(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        let store = try openStore()
        let id = try Self.documentID(request)
        guard try Self.storeCall({ () throws(MemoryStoreError) in try store.deleteDocument(id: id) }) else {
            throw .notFound("no document with id \(id)")
        }
        return .json(Deleted(id: id))
    }

    func retrieve(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        let store = try openStore()
        let body = try JSONValue.parseObject(request.http.body)
        guard let query = try body.string("query"), !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw .invalidRequest("'query' is required and must be a non-empty string", param: "query")
        }
        let k = try body.int("k", in: 1...maxK) ?? defaultK
        let withText = try body.bool("include_text") ?? true
        let profile = profile()
        let hits = try Self.storeCall { () throws(MemoryStoreError) in try store.search(query, limit: k, profile: profile) }
        var titles: [Int64: String] = [:]
        var data: [Hit] = []
        for (rank, hit) in hits.enumerated() {
            var text: String?
            if withText {
                text = try Self.storeCall { () throws(MemoryStoreError) in try store.reference(id: hit.referenceId)?.text }
            }
            if titles[hit.documentId] == nil {
                titles[hit.documentId] = try Self.storeCall { () throws(MemoryStoreError) in try store.document(id: hit.documentId)?.summary.title }
            }
            data.append(Hit(rank: rank, reference_id: hit.referenceId, document_id: hit.documentId, score: hit.score,
                            text: text, document_title: titles[hit.documentId]))
        }
        return .json(Retrieval(query: query, k: k, data: data))
    }

    static func documentID(_ request: RouteRequest) throws(APIError) -> Int64 {
        let raw = request.parameters["id"] ?? ""
        guard let id = Int64(raw), id > 0 else { throw .notFound("no document with id '\(raw)'") }
        return id
    }

    /// Runs a store call, mapping its errors to API errors.
    static func storeCall<T>(_ body: () throws(MemoryStoreError) -> T) throws(APIError) -> T {
        do {
            return try body()
        } catch {
            switch error {
            case .documentNotFound(let id): throw .notFound("no document with id \(id)")
            case .busy, .readOnly, .closed: throw .unavailable(error.description)
            default: throw .internalError(error.description)
            }
        }
    }
}

/// The query string of a request as name/value pairs (percent-decoded; later values win).
struct QueryParameters {
    var values: [String: String] = [:]

    init(_ query: String?) {
        for pair in (query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard let name = parts.first?.removingPercentEncoding else { continue }
            let value = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding : ""
            values[name] = value ?? ""
        }
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let raw = values[name] else { return nil }
        guard let value = Int(raw), range.contains(value) else {
            throw .invalidRequest("query parameter '\(name)' must be an integer in \(range.lowerBound)...\(range.upperBound)", param: name)
        }
        return value
    }
}
