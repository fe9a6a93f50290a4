import Foundation
import Memory3Engine
import MemoryStore

/// The knowledge-base routes: upload (recorded, 202, then encoded in the background), list,
/// inspect, replace and delete documents, follow and cancel ingestions, and see what the retriever would pick for a query. Without a
/// store they answer 503.
struct DocumentRoutes: Sendable {
    let store: @Sendable () -> MemoryStore?
    let ingestion: IngestionService
    /// Generation's memory source (retrieval inspection runs its retrievers and filters on its
    /// profile); nil while the model loads (then /v1/retrieve runs BM25 over every reference).
    let source: @Sendable () -> StoreMemorySource?
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
        let external_id: String?
        var items: [Item]?

        init(_ s: DocumentSummary, items: [Item]? = nil) {
            id = s.id
            title = s.title
            source = s.source
            sha256 = s.sha256
            bytes = s.bytes
            references = s.referenceCount
            created_at = Int(s.createdAt.timeIntervalSince1970)
            external_id = s.externalKey
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
        /// The parts of the score: BM25's (nil when BM25 did not find it) and the cosine (dense, hybrid).
        let bm25_score: Double?
        let cosine: Double?
        let text: String?
        let document_title: String?
    }

    struct Retrieval: Encodable {
        let object = "list"
        let query: String
        let k: Int
        let retriever: String
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
        let data: [IngestionSnapshot]
        var has_more: Bool?
    }

    /// Records the uploaded documents (durably: they survive a restart from here on), queues them
    /// for encoding and answers 202 with where to follow them.
    func upload(_ request: RouteRequest, replacing: Int64?) throws(APIError) -> HTTPResponse {
        _ = try openStore()
        let documents = try DocumentUploadParser.documents(in: request.http)
        if replacing != nil && documents.count != 1 {
            throw .invalidRequest("a replacement must hold exactly one document, not \(documents.count)")
        }
        let records = try ingestion.enqueue(documents, replacing: replacing)
        let snapshots = records.map { ingestion.snapshot($0) }
        if snapshots.count == 1, let snapshot = snapshots.first {
            return .json(snapshot, status: .accepted, headers: HTTPHeaders([("Location", snapshot.status_url)]))
        }
        return .json(Ingestions(data: snapshots), status: .accepted)
    }

    /// Stored documents, or with `?state=` (queued, encoding, failed, cancelled, skipped; several
    /// comma-separated) the ingestions in those states. `state=ready` lists stored documents.
    func list(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        let store = try openStore()
        let query = QueryParameters(request.http.head.query)
        let limit = try query.int("limit", in: 1...10_000) ?? 100
        let offset = try query.int("offset", in: 0...Int(Int32.max)) ?? 0
        if let raw = query.values["state"], raw != "ready" {
            var states: [IngestionState] = []
            for name in raw.split(separator: ",") {
                guard let state = IngestionState(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw .invalidRequest("'state' must be one or more of \(IngestionState.allCases.map(\.rawValue).joined(separator: ", ")), comma-separated",
                                          param: "state")
                }
                states.append(state)
            }
            let records = try Self.storeCall { () throws(MemoryStoreError) in try store.ingestions(states: states, limit: limit + 1, offset: offset) }
            return .json(Ingestions(data: records.prefix(limit).map { ingestion.snapshot($0) }, has_more: records.count > limit))
        }
        let documents = try Self.storeCall { () throws(MemoryStoreError) in try store.documents(limit: limit + 1, offset: offset) }
        return .json(DocumentList(data: documents.prefix(limit).map { Document($0) }, has_more: documents.count > limit))
    }

    func show(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        let store = try openStore()
        if let raw = request.parameters["id"], raw.hasPrefix("ing_") {
            guard let record = try Self.storeCall({ () throws(MemoryStoreError) in try store.ingestion(id: raw) }) else {
                throw .notFound("no ingestion with id '\(raw)'")
            }
            return .json(ingestion.snapshot(record))
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
        if let raw = request.parameters["id"], raw.hasPrefix("ing_") {
            return .json(ingestion.snapshot(try ingestion.cancel(raw, store: store)))
        }
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
        let source = source()
        let retriever = try CompletionParameters.retriever(try body.string("retriever"), available: source?.availableRetrievers ?? [.bm25],
                                                           param: "retriever")
        let hits: [RetrievedReference]
        let used: RetrieverKind
        if let source {
            used = retriever ?? source.defaultRetriever
            do {
                hits = try source.retrieve(query, limit: k, retriever: used)
            } catch let error as MemoryStoreError {
                throw Self.apiError(error)
            } catch {
                throw .internalError("\(error)")
            }
        } else {
            used = .bm25
            hits = try Self.storeCall { () throws(MemoryStoreError) in try store.search(query, limit: k) }
                .map { RetrievedReference(referenceId: $0.referenceId, documentId: $0.documentId, score: $0.score, bm25Score: $0.score) }
        }
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
                            bm25_score: hit.bm25Score, cosine: hit.cosine, text: text, document_title: titles[hit.documentId]))
        }
        return .json(Retrieval(query: query, k: k, retriever: used.rawValue, data: data))
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
            throw apiError(error)
        }
    }

    static func apiError(_ error: MemoryStoreError) -> APIError {
        switch error {
        case .documentNotFound(let id): .notFound("no document with id \(id)")
        case .busy, .readOnly, .closed: .unavailable(error.description)
        case .diskFull: .insufficientStorage(error.description)
        default: .internalError(error.description)
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
