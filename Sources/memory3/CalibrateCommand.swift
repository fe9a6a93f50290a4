import ArgumentParser
import Foundation
import Memory3Engine
import Memory3Memory
import Memory3Model

struct CalibrateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate",
        abstract: "Find the model's retrieval head on a question set and save it beside the model.",
        discussion: """
        Reads each question with its k retrieved memories (gold included, order rotated) and scores every \
        attention head by how often its attention mass picks the gold memory; the best head on the first \
        half of the questions, confirmed on the second, is written to MODEL.memory3.json and used by \
        `eval` and the server to rerank memories.
        """
    )

    @OptionGroup var modelOptions: ModelOptions

    @Option(help: "A question set (JSON, the format of shared/eval/*.json).")
    var set: String

    @Option(help: "Memories read together per question.")
    var k = 5

    @Option(help: "Memory profile: compact, dense, paper, or custom:layers=0-14,tokens=16,selection=attention|keyNorm|h2o|evolved.")
    var profile = "dense"

    @Option(help: "Memory codec: int8, fp16, int4, int3, int2, or the rotated int3r and int2r (default: the profile's own, compact's int3; else int8: the head is the model's, found on near-exact memories, and low-bit memories keep its layer's keys at int8).")
    var codec: String?

    @Option(help: "RoPE position where the context starts (default: 512; 128 for a model with sliding-window layers).")
    var contextOffset: Int?

    @Option(help: "How many of the best heads to list.")
    var top = 5

    @Flag(help: "Do not write the settings file.")
    var dryRun = false

    @Flag(help: "Print the head table as JSON.")
    var json = false

    func run() throws {
        let evalSet = try EvalSet.load(path: set)
        let (model, tokenizer, _) = try modelOptions.load()
        let built = try EvalStore.build(set: evalSet, model: model, tokenizer: tokenizer,
                                        profile: try MemoryProfile(parsing: profile), codec: try storageCodec(try MemoryProfile(parsing: profile), requested: codec), verbose: true)
        defer { built.remove() }
        var policy = MemoryReadingPolicy.defaults(for: model.config)
        policy.memoriesPerChunk = k
        if let contextOffset { policy.contextOffset = contextOffset }
        let calibration = Calibration(model: model, tokenizer: tokenizer, source: built.source, policy: policy)
        let scores = try calibration.scoreHeads(evalSet, referenceIds: built.referenceIds) { done, total in
            stderrLine("\rcalibrating: \(done)/\(total)", newline: done == total)
        }
        guard let best = scores.first else { throw CLIError("no questions to calibrate on") }
        if json {
            try JSONOutput.print(Array(scores.prefix(top)))
        } else {
            print("| layer | head | first half | second half |")
            print("| --- | --- | --- | --- |")
            for s in scores.prefix(top) {
                print(String(format: "| %d | %d | %.1f%% | %.1f%% |", s.layer, s.head, s.firstHalf * 100, s.secondHalf * 100))
            }
        }
        let settingsPath = ModelSettings.path(forModel: modelOptions.model)
        if dryRun { return }
        var settings = ModelSettings.load(forModel: modelOptions.model, fingerprint: built.fingerprint)
            ?? ModelSettings(modelFingerprint: built.fingerprint)
        settings.retrievalHead = RetrievalHead(layer: best.layer, head: best.head, accuracy: best.secondHalf)
        settings.calibration = ModelSettings.CalibrationSummary(
            set: (set as NSString).lastPathComponent, questions: evalSet.questions.count,
            foundOnFirstHalf: best.firstHalf, confirmedOnSecondHalf: best.secondHalf,
            date: ISO8601DateFormatter().string(from: Date()))
        try settings.save(forModel: modelOptions.model)
        stderrLine("retrieval head: layer \(best.layer), head \(best.head) (saved to \(settingsPath))")
    }
}
