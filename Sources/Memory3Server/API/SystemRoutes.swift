import Foundation

/// GET /health, /ready, /metrics, /v1/models and /v1/models/{id}.
struct SystemRoutes: Sendable {
    let metrics: ServerMetrics
    let gauges: @Sendable () -> ServerMetrics.Gauges
    let engine: @Sendable () -> LanguageModelEngine?
    /// Why the server is not ready (nil: ready).
    let notReadyReason: @Sendable () -> String?
    let protectMetrics: Bool
    let startedAt = Date()

    struct Status: Encodable {
        let status: String
        var reason: String?
        var model: String?
    }

    struct ModelCard: Encodable {
        let id: String
        let object = "model"
        let created: Int
        let owned_by = "memory3"
        let context_length: Int
    }

    struct ModelList: Encodable {
        let object = "list"
        let data: [ModelCard]
    }

    func routes() -> [Route] {
        [
            Route("GET", "/health", requiresKey: false) { _ throws(APIError) in
                .json(Status(status: "ok"))
            },
            Route("GET", "/ready", requiresKey: false) { _ throws(APIError) in
                if let reason = notReadyReason() {
                    return .json(Status(status: "not_ready", reason: reason), status: .serviceUnavailable,
                                 headers: HTTPHeaders([("Retry-After", "5")]))
                }
                return .json(Status(status: "ready", model: engine()?.modelID))
            },
            Route("GET", "/metrics", requiresKey: protectMetrics) { _ throws(APIError) in
                .text(metrics.render(gauges()), contentType: PrometheusText.contentType)
            },
            Route("GET", "/v1/models") { _ throws(APIError) in
                .json(ModelList(data: engine().map { [card($0)] } ?? []))
            },
            Route("GET", "/v1/models/{id}") { request throws(APIError) in
                let id = request.parameters["id"] ?? ""
                guard let engine = engine(), engine.accepts(model: id) else { throw .modelNotFound(id) }
                return .json(card(engine))
            },
        ]
    }

    func card(_ engine: LanguageModelEngine) -> ModelCard {
        ModelCard(id: engine.modelID, created: Int(startedAt.timeIntervalSince1970), context_length: engine.contextLength)
    }
}
