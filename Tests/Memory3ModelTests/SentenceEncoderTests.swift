import CKernels
import Foundation
import Memory3Model
import Memory3TestSupport
import Tokenizer
import XCTest

/// The sentence encoder against sentence-transformers' own all-MiniLM-L6-v2
/// (Tests/Fixtures/minilm-reference.json, made by scripts/make-embedding-reference.py), and its
/// invariances: the same text gives the same vector bit for bit across runs, batches and threads.
final class SentenceEncoderTests: XCTestCase {
    struct Reference: Decodable {
        struct Case: Decodable {
            let text: String
            let ids: [Int]
            let embedding: [Float]
        }
        let max_seq_length: Int
        let cases: [Case]
    }

    static func reference() throws -> Reference {
        let url = TestPaths.repositoryRoot.appendingPathComponent("Tests/Fixtures/minilm-reference.json")
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    /// float32: sentence-transformers' vectors within float rounding. bfloat16 (the default): each
    /// vector within cosine 0.9995 of theirs (measured: 0.99998 or more on these texts, the largest
    /// component difference 6e-4 to 9.5e-4 of unit vectors).
    func testTokensAndEmbeddingsMatchSentenceTransformers() throws {
        let folder = try TestPaths.requireMiniLM()
        let reference = try Self.reference()
        for precision in SentenceEncoder.Precision.allCases {
            var config = SentenceEncoder.Config()
            config.precision = precision
            let encoder = try SentenceEncoder(folder: folder, name: "all-MiniLM-L6-v2", config: config, threads: 2)
            XCTAssertEqual(encoder.config.maxTokens, reference.max_seq_length)
            for c in reference.cases {
                XCTAssertEqual(encoder.tokenizer.encode(c.text, maxTokens: encoder.config.maxTokens), c.ids, c.text)
                let vector = encoder.embed(c.text)
                let worst = zip(vector, c.embedding).map { abs($0 - $1) }.max() ?? 1
                let cosine = zip(vector, c.embedding).reduce(Float(0)) { $0 + $1.0 * $1.1 }
                switch precision {
                case .float32: XCTAssertLessThan(worst, 2e-5, "largest difference \(worst) for \(c.text.prefix(40))")
                case .bfloat16: XCTAssertGreaterThan(cosine, 0.9995, "cosine \(cosine), largest difference \(worst) for \(c.text.prefix(40))")
                }
            }
        }
        XCTAssertEqual(SentenceEncoder.Config().precision, .bfloat16)
    }

    func testSameTextSameVectorAcrossRunsBatchesAndThreads() throws {
        let folder = try TestPaths.requireMiniLM()
        let one = try SentenceEncoder(folder: folder, name: "m", threads: 1)
        let two = try SentenceEncoder(folder: folder, name: "m", threads: 2)
        let texts = ["The ferry to Olm leaves at dawn.", "Who built the observatory?", "a b c d e f g h i j k"]
        let alone = texts.map { one.embed($0) }
        XCTAssertEqual(one.embed(texts), alone)
        XCTAssertEqual(one.embed(texts.reversed()), alone.reversed())
        XCTAssertEqual(two.embed(texts), alone)
        XCTAssertEqual(two.embed(texts[1]), alone[1])
        for v in alone { XCTAssertEqual(v.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-5) }
        // Word embeddings read from the file (above) or held in memory (weights given as bytes): the same.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: folder + "/model.safetensors"))
        let inMemory = try SentenceEncoder(weights: try SafetensorsFile(data: bytes), tokenizer: one.tokenizer, name: "m")
        XCTAssertEqual(inMemory.embed(texts), alone)
        // float32 layers: the same invariances.
        var config = SentenceEncoder.Config()
        config.precision = .float32
        let floatOne = try SentenceEncoder(folder: folder, name: "m", config: config, threads: 1)
        let floatTwo = try SentenceEncoder(folder: folder, name: "m", config: config, threads: 2)
        let floatAlone = texts.map { floatOne.embed($0) }
        XCTAssertEqual(floatTwo.embed(texts.reversed()), floatAlone.reversed())
        XCTAssertNotEqual(floatAlone, alone)
    }

    func testFloatMatmulKernelMatchesScalarWithinRounding() {
        var generator = SeededGenerator(seed: 7)
        for (n, k, m) in [(1, 16, 3), (5, 384, 17), (9, 40, 8), (4, 1536, 5), (8, 384, 12), (4, 7, 4), (6, 12, 9)] {
            let x = (0 ..< n * k).map { _ in Float.random(in: -1 ... 1, using: &generator) }
            let w = (0 ..< m * k).map { _ in Float.random(in: -1 ... 1, using: &generator) }
            let b = (0 ..< m).map { _ in Float.random(in: -1 ... 1, using: &generator) }
            var fast = [Float](repeating: 0, count: n * m)
            m3_f32_matmul_nt(x, Int32(n), Int32(k), w, 0, Int32(m), b, &fast, Int32(m))
            for i in 0 ..< n {
                for j in 0 ..< m {
                    var exact: Double = Double(b[j])
                    for d in 0 ..< k { exact += Double(x[i * k + d]) * Double(w[j * k + d]) }
                    XCTAssertEqual(Double(fast[i * m + j]), exact, accuracy: 1e-4 * Double(k).squareRoot(), "n \(n) k \(k) (\(i), \(j))")
                }
            }
            // Every token's row is the same bits computed alone (batches take tiles of 4 tokens x 4
            // weight rows, a token alone one row at a time), and over a part of the rows.
            var part = [Float](repeating: 0, count: n * m)
            m3_f32_matmul_nt(x, Int32(n), Int32(k), w, 1, Int32(m), b, &part, Int32(m))
            for i in 0 ..< n {
                var alone = [Float](repeating: 0, count: m)
                m3_f32_matmul_nt(Array(x[i * k ..< (i + 1) * k]), 1, Int32(k), w, 0, Int32(m), b, &alone, Int32(m))
                XCTAssertEqual(alone.map(\.bitPattern), fast[i * m ..< (i + 1) * m].map(\.bitPattern), "n \(n) k \(k) token \(i)")
                XCTAssertEqual(part[i * m], 0, "row 0 is outside the range 1..<m")
                XCTAssertEqual(part[i * m + 1 ..< (i + 1) * m].map(\.bitPattern), fast[i * m + 1 ..< (i + 1) * m].map(\.bitPattern))
            }
        }
    }

    func testVectorScanKernels() {
        var generator = SeededGenerator(seed: 11)
        let dim = 384, count = 37
        let query = (0 ..< dim).map { _ in Int8.random(in: -127 ... 127, using: &generator) }
        let rows = (0 ..< dim * count).map { _ in Int8.random(in: -127 ... 127, using: &generator) }
        var dots = [Int32](repeating: 0, count: count)
        m3_i8_dot_rows(query, rows, Int32(count), Int32(dim), &dots)
        for r in 0 ..< count {
            XCTAssertEqual(dots[r], (0 ..< dim).reduce(Int32(0)) { $0 + Int32(query[$1]) * Int32(rows[r * dim + $1]) })
        }
        let bits = (0 ..< 6).map { _ in UInt64.random(in: .min ... .max, using: &generator) }
        let codes = (0 ..< 6 * count).map { _ in UInt64.random(in: .min ... .max, using: &generator) }
        var distances = [UInt16](repeating: 0, count: count)
        m3_hamming_rows(bits, codes, Int32(count), 6, &distances)
        for r in 0 ..< count {
            XCTAssertEqual(Int(distances[r]), (0 ..< 6).reduce(0) { $0 + (bits[$1] ^ codes[r * 6 + $1]).nonzeroBitCount })
        }
    }

    func testWordPieceSplitsLikeBert() throws {
        let tokenizer = try WordPieceTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "cafe", ",", "!", "中", "hello"])
        XCTAssertEqual(WordPieceTokenizer.words("Hello,  CAFÉ!\tun中"), ["hello", ",", "cafe", "!", "un", "中"])
        XCTAssertEqual(tokenizer.encode("unaffable hello"), [2, 4, 5, 6, 11, 3])
        XCTAssertEqual(tokenizer.encode("unknownword"), [2, 1, 3])
        XCTAssertEqual(tokenizer.encode("hello hello hello", maxTokens: 4), [2, 11, 11, 3])
        XCTAssertThrowsError(try WordPieceTokenizer(tokens: ["a", "b"]))
    }

    func testSafetensorsRejectsWhatItCannotRead() {
        XCTAssertThrowsError(try SafetensorsFile(data: Data([1, 2, 3])))
        var header = Array(#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#.utf8)
        var data = Data(withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init))
        data.append(contentsOf: header)
        data.append(contentsOf: [0, 0, 0, 0])
        XCTAssertThrowsError(try SafetensorsFile(data: data).tensor("w", shape: [2]))
        header = Array(#"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#.utf8)
        data = Data(withUnsafeBytes(of: UInt64(header.count).littleEndian, Array.init))
        data.append(contentsOf: header)
        data.append(contentsOf: withUnsafeBytes(of: Float(1.5)) { Array($0) } + withUnsafeBytes(of: Float(-2)) { Array($0) })
        XCTAssertEqual(try SafetensorsFile(data: data).tensor("w", shape: [2]), [1.5, -2])
        XCTAssertThrowsError(try SafetensorsFile(data: data).tensor("w", shape: [3]))
    }
}
