/// Every error the API answers with, each with its status, OpenAI error type and code. The one
/// place where failures become HTTP statuses.
public enum APIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The body is not JSON, a field has the wrong type or value, or the request asks for
    /// something this server does not do. `param` names the field.
    case invalidRequest(String, param: String? = nil, code: String? = nil)
    case invalidJSON(String)
    case unsupportedMediaType(String, accepted: [String])
    /// A document over the size limit.
    case payloadTooLarge(String)
    case modelNotFound(String)
    /// `promptParam` names the request's prompt field (`messages` for chat, `prompt` for completions).
    case contextLengthExceeded(promptTokens: Int, maxTokens: Int, contextLength: Int, promptParam: String = "messages")
    case missingAPIKey
    case invalidAPIKey
    /// The whole message (a missing route says "no route for ...", a missing document names it).
    case notFound(String)
    /// The request cannot be done in the resource's current state (cancelling a finished ingestion).
    case conflict(String)
    case methodNotAllowed(method: String, allowed: [String])
    case queueFull(capacity: Int, retryAfter: Int)
    case deadlineExceeded(seconds: Double)
    case modelLoading
    case shuttingDown
    /// A part of the server that is not running (memory store, ingestion).
    case unavailable(String)
    /// The knowledge base's disk is full (507): retry after space is freed.
    case insufficientStorage(String)
    case notImplemented(String)
    case internalError(String)

    public var status: HTTPStatus {
        switch self {
        case .invalidRequest, .invalidJSON, .contextLengthExceeded: .badRequest
        case .unsupportedMediaType: .unsupportedMediaType
        case .payloadTooLarge: .payloadTooLarge
        case .modelNotFound, .notFound: .notFound
        case .conflict: .conflict
        case .missingAPIKey, .invalidAPIKey: .unauthorized
        case .methodNotAllowed: .methodNotAllowed
        case .queueFull: .tooManyRequests
        case .deadlineExceeded: .gatewayTimeout
        case .modelLoading, .shuttingDown, .unavailable: .serviceUnavailable
        case .insufficientStorage: .insufficientStorage
        case .notImplemented: .notImplemented
        case .internalError: .internalServerError
        }
    }

    /// OpenAI's `error.type`.
    public var type: String {
        switch self {
        case .invalidRequest, .invalidJSON, .contextLengthExceeded, .modelNotFound, .notFound, .conflict,
             .methodNotAllowed, .unsupportedMediaType, .payloadTooLarge, .notImplemented: "invalid_request_error"
        case .missingAPIKey, .invalidAPIKey: "authentication_error"
        case .queueFull: "rate_limit_error"
        case .deadlineExceeded: "timeout_error"
        case .modelLoading, .shuttingDown, .unavailable, .insufficientStorage: "service_unavailable"
        case .internalError: "server_error"
        }
    }

    /// OpenAI's `error.code`.
    public var code: String? {
        switch self {
        case .invalidRequest(_, _, let code): code
        case .invalidJSON: "invalid_json"
        case .modelNotFound: "model_not_found"
        case .contextLengthExceeded: "context_length_exceeded"
        case .missingAPIKey: "missing_api_key"
        case .invalidAPIKey: "invalid_api_key"
        case .queueFull: "queue_full"
        case .deadlineExceeded: "deadline_exceeded"
        case .modelLoading: "model_loading"
        case .shuttingDown: "shutting_down"
        case .insufficientStorage: "disk_full"
        default: nil
        }
    }

    public var param: String? {
        switch self {
        case .invalidRequest(_, let param, _): param
        case .modelNotFound: "model"
        case .contextLengthExceeded(_, _, _, let promptParam): promptParam
        default: nil
        }
    }

    public var description: String {
        switch self {
        case .invalidRequest(let message, _, _): message
        case .invalidJSON(let detail): "the request body is not valid JSON: \(detail)"
        case .unsupportedMediaType(let type, let accepted): "unsupported Content-Type '\(type)'; send \(accepted.joined(separator: ", "))"
        case .modelNotFound(let model): "the model '\(model)' does not exist; GET /v1/models lists the models this server has"
        case .contextLengthExceeded(let prompt, let max, let context, _):
            "the prompt has \(prompt) tokens and max_tokens is \(max), together more than the model's context of \(context) tokens; shorten the prompt or lower max_tokens"
        case .missingAPIKey: "this server needs an API key: send 'Authorization: Bearer <key>'"
        case .invalidAPIKey: "the API key is not valid"
        case .notFound(let message): message
        case .conflict(let message): message
        case .payloadTooLarge(let message): message
        case .methodNotAllowed(let method, let allowed): "\(method) is not allowed here; use \(allowed.joined(separator: " or "))"
        case .queueFull(let capacity, let retry): "the server is busy (\(capacity) requests already queued); retry in \(retry) s"
        case .deadlineExceeded(let seconds): "the request did not finish within its deadline of \(Self.seconds(seconds)) s"
        case .modelLoading: "the model is still loading; retry shortly (GET /ready says when it is ready)"
        case .shuttingDown: "the server is shutting down"
        case .unavailable(let what): what
        case .insufficientStorage(let what): what
        case .notImplemented(let what): what
        case .internalError(let message): "internal error: \(message)"
        }
    }

    /// Seconds to a tenth, without a trailing ".0" (29.98 -> "30", 0.5 -> "0.5").
    static func seconds(_ value: Double) -> String {
        let tenths = (value * 10).rounded() / 10
        return tenths == tenths.rounded() ? String(Int(tenths)) : String(format: "%.1f", tenths)
    }

    /// The error as a response in OpenAI's shape, naming the request.
    public func response(requestID: String?) -> HTTPResponse {
        var response = self.response
        if let requestID {
            var envelope = self.envelope
            envelope.error.request_id = requestID
            response = .json(envelope, status: status, headers: response.headers)
            response.headers.set("X-Request-Id", requestID)
        }
        return response
    }

    /// The error as a response in OpenAI's shape.
    public var response: HTTPResponse {
        var headers = HTTPHeaders()
        switch self {
        case .methodNotAllowed(_, let allowed): headers.add("Allow", allowed.joined(separator: ", "))
        case .queueFull(_, let retry): headers.add("Retry-After", String(retry))
        case .modelLoading: headers.add("Retry-After", "5")
        case .missingAPIKey, .invalidAPIKey: headers.add("WWW-Authenticate", "Bearer")
        default: break
        }
        return .json(envelope, status: status, headers: headers)
    }

    public var envelope: ErrorEnvelope {
        ErrorEnvelope(error: .init(message: description, type: type, param: param, code: code))
    }
}

/// `{"error": {"message", "type", "param", "code"}}`, as OpenAI sends errors.
public struct ErrorEnvelope: Codable, Sendable, Equatable {
    public struct Body: Codable, Sendable, Equatable {
        public var message: String
        public var type: String
        public var param: String?
        public var code: String?
        /// The request's `X-Request-Id`, to quote when reporting a problem.
        public var request_id: String? = nil

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(message, forKey: .message)
            try c.encode(type, forKey: .type)
            try c.encode(param, forKey: .param)  // explicit nulls, as OpenAI sends them
            try c.encode(code, forKey: .code)
            try c.encodeIfPresent(request_id, forKey: .request_id)
        }
    }

    public var error: Body
}
