import Foundation

/// Per-model settings found by calibration, kept in a JSON file beside the model
/// (`MODEL.gguf.memory3.json`) and tied to the model's fingerprint, so a setting is never applied
/// to another model.
public struct ModelSettings: Codable, Equatable, Sendable {
    public var modelFingerprint: String
    public var retrievalHead: RetrievalHead?
    /// When and how the retrieval head was found.
    public var calibration: CalibrationSummary?

    public struct CalibrationSummary: Codable, Equatable, Sendable {
        public var set: String
        public var questions: Int
        public var foundOnFirstHalf: Double
        public var confirmedOnSecondHalf: Double
        public var date: String

        public init(set: String, questions: Int, foundOnFirstHalf: Double, confirmedOnSecondHalf: Double, date: String) {
            self.set = set
            self.questions = questions
            self.foundOnFirstHalf = foundOnFirstHalf
            self.confirmedOnSecondHalf = confirmedOnSecondHalf
            self.date = date
        }
    }

    public init(modelFingerprint: String, retrievalHead: RetrievalHead? = nil, calibration: CalibrationSummary? = nil) {
        self.modelFingerprint = modelFingerprint
        self.retrievalHead = retrievalHead
        self.calibration = calibration
    }

    public static func path(forModel modelPath: String) -> String { modelPath + ".memory3.json" }

    /// Layers whose keys low-bit memories also keep at int8 (`IngestOptions.int8KeyLayers`): the
    /// retrieval head's, so that its rerank reads them as in an int8 memory.
    public var int8KeyLayers: [Int] { retrievalHead.map { [$0.layer] } ?? [] }

    /// The settings of the model at `modelPath`, or nil when there are none or they belong to a
    /// different model (another fingerprint).
    public static func load(forModel modelPath: String, fingerprint: String) -> ModelSettings? {
        guard let data = FileManager.default.contents(atPath: path(forModel: modelPath)),
              let settings = try? JSONDecoder().decode(ModelSettings.self, from: data),
              settings.modelFingerprint == fingerprint else { return nil }
        return settings
    }

    public func save(forModel modelPath: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: URL(fileURLWithPath: Self.path(forModel: modelPath)), options: .atomic)
    }
}
