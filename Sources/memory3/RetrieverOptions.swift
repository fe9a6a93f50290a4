import ArgumentParser
import Foundation
import Memory3Engine
import Memory3Model

extension SentenceEncoder.Precision: ExpressibleByArgument {
    static let help = "The sentence encoder's linear layers: bfloat16 (default; ~2.3x as fast with AVX-512 BF16) or float32 (sentence-transformers' numbers; vectors of either compare with the other's)."
}

/// Options of the commands that retrieve (eval, calibrate, generate): which retriever, and where
/// the sentence encoder of dense and hybrid retrieval is.
struct RetrieverOptions: ParsableArguments {
    @Option(help: "Retriever: bm25 (full-text), dense (sentence embeddings), hybrid (both, blended). Default: hybrid when the sentence encoder is present, else bm25.")
    var retriever: String?

    @Option(help: "The sentence encoder's folder (model.safetensors, vocab.txt; fetch with `scripts/fetch-model.sh minilm`).")
    var encoder: String = DenseRetrieval.defaultFolder

    @Option(help: ArgumentHelp(SentenceEncoder.Precision.help))
    var encoderPrecision = SentenceEncoder.Precision.bfloat16

    func validate() throws {
        if let retriever, RetrieverKind(rawValue: retriever) == nil {
            throw ValidationError("--retriever must be one of: \(RetrieverKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    var kind: RetrieverKind? { retriever.flatMap(RetrieverKind.init(rawValue:)) }

    /// The encoder, when the retriever needs it (or, unset, when it is present); nil for bm25.
    func loadDense(threads: Int) throws -> DenseRetrieval? {
        let present = FileManager.default.fileExists(atPath: encoder + "/model.safetensors")
        switch kind {
        case .bm25: return nil
        case nil where !present: return nil
        default:
            guard present else {
                throw CLIError("--retriever \(retriever ?? "") needs the sentence encoder in \(encoder)/; run `scripts/fetch-model.sh minilm`")
            }
            do { return try DenseRetrieval.load(folder: encoder, threads: threads, precision: encoderPrecision) } catch { throw CLIError("cannot load the sentence encoder: \(error)") }
        }
    }
}
