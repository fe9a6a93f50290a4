import Memory3Engine
import Tokenizer

/// Log-probabilities in OpenAI's two shapes: chat's `{"content": [{token, logprob, bytes,
/// top_logprobs}]}` and legacy completions' `{tokens, token_logprobs, top_logprobs, text_offset}`.
/// A token's text is its bytes read as UTF-8 (a piece of a multi-byte character shows as U+FFFD;
/// `bytes` keeps the truth).
enum LogprobsResponses {
    struct ChatTop: Encodable, Sendable {
        let token: String
        let logprob: Float
        let bytes: [UInt8]
    }

    struct ChatToken: Encodable, Sendable {
        let token: String
        let logprob: Float
        let bytes: [UInt8]
        let top_logprobs: [ChatTop]
    }

    struct Chat: Encodable, Sendable {
        let content: [ChatToken]
    }

    struct Text: Encodable, Sendable {
        let tokens: [String]
        /// Null for an echoed prompt's first token (nothing predicts it).
        let token_logprobs: [Float?]
        let top_logprobs: [[String: Float]?]
        let text_offset: [Int]
    }

    static func chat(_ logprobs: [TokenLogprob], tokenizer: Tokenizer) -> Chat {
        Chat(content: logprobs.map { entry in
            ChatToken(token: text(entry.token, tokenizer), logprob: entry.logprob, bytes: tokenizer.tokenBytes(entry.token),
                      top_logprobs: entry.top.map {
                          ChatTop(token: text($0.token, tokenizer), logprob: $0.logprob, bytes: tokenizer.tokenBytes($0.token))
                      })
        })
    }

    /// The legacy shape; with `prompt` (echo), the prompt's tokens come first: the first without
    /// a log-probability, the others with `promptLogprobs` (one each, in order).
    static func text(_ logprobs: [TokenLogprob], prompt: [Int]? = nil, promptLogprobs: [TokenLogprob] = [],
                     tokenizer: Tokenizer, offset start: Int = 0) -> Text {
        var entries: [(token: Int, entry: TokenLogprob?)] = []
        if let prompt, let first = prompt.first {
            entries.append((first, nil))
            for (token, entry) in zip(prompt.dropFirst(), promptLogprobs) { entries.append((token, entry)) }
        }
        entries += logprobs.map { ($0.token, $0) }
        var offsets: [Int] = []
        var offset = start
        for (token, _) in entries {
            offsets.append(offset)
            offset += text(token, tokenizer).count
        }
        return Text(tokens: entries.map { text($0.token, tokenizer) }, token_logprobs: entries.map { $0.entry?.logprob },
                    top_logprobs: entries.map { pair in
                        guard let entry = pair.entry else { return nil }
                        // Alternatives whose texts coincide keep the likelier one.
                        var top: [String: Float] = [:]
                        for alternative in entry.top.reversed() { top[text(alternative.token, tokenizer)] = alternative.logprob }
                        return top
                    },
                    text_offset: offsets)
    }

    static func text(_ token: Int, _ tokenizer: Tokenizer) -> String {
        String(decoding: tokenizer.tokenBytes(token), as: UTF8.self)
    }
}
