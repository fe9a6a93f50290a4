import Foundation

/// A set of invented facts with cloze questions (the format of shared/eval/*.json): each
/// question's answer is in exactly one reference.
public struct EvalSet: Decodable, Sendable {
    public struct Reference: Decodable, Sendable {
        public var id: Int
        public var text: String
    }

    public struct Question: Decodable, Sendable {
        /// The id of the reference that holds the answer.
        public var ref: Int
        public var prompt: String
        public var answer: String
        public var kind: String?

        /// Exact match: the generated text, leading whitespace dropped, starts with the answer.
        public func isAnswered(by generated: String) -> Bool {
            generated.drop { $0.isWhitespace }.hasPrefix(answer.trimmingCharacters(in: .whitespaces))
        }
    }

    public var references: [Reference]
    public var questions: [Question]

    public static func load(path: String) throws -> EvalSet {
        try JSONDecoder().decode(EvalSet.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
    }
}
