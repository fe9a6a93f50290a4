import Foundation
import Memory3Engine
import Tokenizer

/// POST /tokenize and /detokenize, in llama.cpp's server shapes: the model's own tokenizer, so a
/// client can count tokens or inspect pieces exactly as generation sees them.
struct TokenizerRoutes: Sendable {
    let engine: @Sendable () -> LanguageModelEngine?

    /// Ids a request may send to /detokenize.
    static let maxTokens = 1 << 20

    struct Tokens: Encodable {
        let tokens: [Int]
    }

    /// A token with its text: a string when its bytes are valid UTF-8 on their own, else the
    /// bytes (a piece of a multi-byte character), as llama.cpp answers `with_pieces`.
    struct Piece: Encodable {
        let id: Int
        let piece: PieceValue
    }

    enum PieceValue: Encodable {
        case text(String)
        case bytes([UInt8])

        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            switch self {
            case .text(let s): try container.encode(s)
            case .bytes(let b): try container.encode(b)
            }
        }
    }

    struct PieceList: Encodable {
        let tokens: [Piece]
    }

    struct Content: Encodable {
        let content: String
    }

    func routes() -> [Route] {
        [
            Route("POST", "/tokenize") { request throws(APIError) in try tokenize(request) },
            Route("POST", "/detokenize") { request throws(APIError) in try detokenize(request) },
        ]
    }

    func loadedTokenizer() throws(APIError) -> Tokenizer {
        guard let engine = engine() else { throw .modelLoading }
        return engine.tokenizer
    }

    /// `{"content": string, "add_special": false, "parse_special": true, "with_pieces": false}`.
    func tokenize(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        let tokenizer = try loadedTokenizer()
        let body = try JSONValue.parseObject(request.http.body)
        guard let content = try body.string("content") else {
            throw .invalidRequest("'content' is required and must be a string", param: "content")
        }
        let addSpecial = try body.bool("add_special") ?? false
        let parseSpecial = try body.bool("parse_special") ?? true
        let withPieces = try body.bool("with_pieces") ?? false
        let ids = tokenizer.encode(content, parseSpecial: parseSpecial, addBOS: addSpecial)
        guard withPieces else { return .json(Tokens(tokens: ids)) }
        return .json(PieceList(tokens: ids.map { id in
            let bytes = tokenizer.tokenBytes(id)
            if let text = String(validating: bytes, as: UTF8.self) { return Piece(id: id, piece: .text(text)) }
            return Piece(id: id, piece: .bytes(bytes))
        }))
    }

    /// `{"tokens": [int]}` -> `{"content": string}`; an id outside the vocabulary is a 400 naming it.
    func detokenize(_ request: RouteRequest) throws(APIError) -> HTTPResponse {
        let tokenizer = try loadedTokenizer()
        let body = try JSONValue.parseObject(request.http.body)
        guard let values = try body.array("tokens") else {
            throw .invalidRequest("'tokens' is required and must be an array of token ids", param: "tokens")
        }
        guard values.count <= Self.maxTokens else {
            throw .invalidRequest("'tokens' may hold at most \(Self.maxTokens) ids", param: "tokens")
        }
        var ids: [Int] = []
        ids.reserveCapacity(values.count)
        for (index, value) in values.enumerated() {
            guard case .int(let id) = value, id >= 0, id < tokenizer.vocabularySize else {
                throw .invalidRequest("tokens[\(index)] must be a token id in 0..<\(tokenizer.vocabularySize)", param: "tokens")
            }
            ids.append(id)
        }
        return .json(Content(content: tokenizer.decode(ids)))
    }
}
