import Foundation
@testable import Memory3Model
@testable import Memory3Memory
import XCTest

final class MemoryCodecTests: XCTestCase {
    let fingerprint = String(repeating: "ab", count: 32)

    func roundTrip(_ memory: EncodedMemory, _ codec: MemoryCodec, profile: String = "dense") throws -> DecodedMemory {
        let blob = try codec.encode(memory, profile: profile, fingerprint: fingerprint)
        return try MemoryCodec.decode(blob, expectedFingerprint: fingerprint)
    }

    func testFP16RoundTripIsExactToHalfPrecisionRounding() throws {
        let memory = randomMemory()
        let decoded = try roundTrip(memory, .fp16).memory
        XCTAssertEqual(decoded.keys, memory.keys.map { Float(Float16($0)) })
        XCTAssertEqual(decoded.values, memory.values.map { Float(Float16($0)) })
        XCTAssertEqual(decoded.positions, memory.positions)
    }

    func testEveryCodecKeepsShapesPositionsPrefixAndHeader() throws {
        let memory = randomMemory(layers: [1, 4, 7], heads: 2, headDim: 48, tokens: 37, prefix: 3)
        for codec in MemoryCodec.allCases {
            let decoded = try roundTrip(memory, codec, profile: "custom:layers=1,4,7,tokens=34,selection=attention")
            XCTAssertEqual(decoded.header.codec, codec)
            XCTAssertEqual(decoded.header.profile, "custom:layers=1,4,7,tokens=34,selection=attention")
            XCTAssertEqual(decoded.header.fingerprint, fingerprint)
            XCTAssertEqual(decoded.memory.layers, [1, 4, 7])
            XCTAssertEqual(decoded.memory.kvHeadCount, 2)
            XCTAssertEqual(decoded.memory.headDim, 48)
            XCTAssertEqual(decoded.memory.tokenCount, 37)
            XCTAssertEqual(decoded.memory.prefixTokenCount, 3)
            XCTAssertEqual(decoded.memory.positions, memory.positions)
        }
    }

    /// int8: symmetric, one fp16 scale per key channel (over a head's tokens) and per value token.
    /// Bound: |error| <= scale / 2, with scale = max|x| / 127 rounded up to fp16 (<= 1 + 2^-10
    /// larger), so |error| <= max|x| / 254 * 1.001 (+ 1e-7 for fp16 subnormal scales).
    func testInt8ErrorIsAtMostHalfAStepPerKeyChannelAndPerValueToken() throws {
        let memory = randomMemory(tokens: 130)
        let decoded = try roundTrip(memory, .int8).memory
        let d = memory.headDim, t = memory.tokenCount
        var worstRelative: Float = 0
        for row in 0 ..< memory.rowCount {
            for channel in 0 ..< d {
                let idx = (0 ..< t).map { row * t * d + $0 * d + channel }
                let amax = idx.map { abs(memory.keys[$0]) }.max()!
                for i in idx {
                    let err = abs(decoded.keys[i] - memory.keys[i])
                    XCTAssertLessThanOrEqual(err, amax / 254 * 1.001 + 1e-7)
                    worstRelative = max(worstRelative, err / amax)
                }
            }
            for token in 0 ..< t {
                let idx = (0 ..< d).map { row * t * d + token * d + $0 }
                let amax = idx.map { abs(memory.values[$0]) }.max()!
                for i in idx { XCTAssertLessThanOrEqual(abs(decoded.values[i] - memory.values[i]), amax / 254 * 1.001 + 1e-7) }
            }
        }
        XCTAssertGreaterThan(worstRelative, 1 / 300, "the bound is tight, not vacuous")
    }

    /// int4, int3, int2, int2r: groups of 32 (keys: 32 tokens of a channel, after a group of the prefix
    /// tokens for int3 and int2; values: 32 dims of a token; int2r's in rotated space),
    /// fp16 scale and zero point (the minimum, rounded down). Bound: |error| <= scale / 2 with
    /// scale = (max - zero) / top rounded up (top = 2^bits - 1), i.e. <= (max - min + |min| 2^-10)
    /// / (2 top) * 1.001 (+ 1e-6).
    func testLowBitErrorIsAtMostHalfAStepPerGroupOf32() throws {
        var memory = randomMemory(tokens: 70)  // 32 + 32 + 6 (int4), 2 + 32 + 32 + 4 (int3, int2)
        // A sink-like prefix: keys 20x larger than the body's.
        for row in 0 ..< memory.rowCount {
            for i in 0 ..< memory.prefixTokenCount * memory.headDim { memory.keys[row * 70 * memory.headDim + i] *= 20 }
        }
        for codec in [MemoryCodec.int4, .int3, .int2, .int2r] {
            var decoded = try roundTrip(memory, codec).memory
            var coded = memory
            // int2r codes rotated vectors: the bound holds there (rotating back adds float rounding).
            let slack: Float = codec.rotated ? 1e-4 : 1e-6
            if codec.rotated {
                for m in [0, 1] {
                    var original = m == 0 ? coded.keys : coded.values, got = m == 0 ? decoded.keys : decoded.values
                    HadamardRotation.rotate(&original, count: memory.rowCount * memory.tokenCount, dim: memory.headDim)
                    HadamardRotation.rotate(&got, count: memory.rowCount * memory.tokenCount, dim: memory.headDim)
                    if m == 0 { coded.keys = original; decoded.keys = got } else { coded.values = original; decoded.values = got }
                }
            }
            let top = Float((1 << codec.lowBits!) - 1)
            let d = memory.headDim, t = memory.tokenCount, g = codec.groupSize
            var worstRelative: Float = 0
            func check(_ original: [Float], _ got: [Float], _ group: [Int]) {
                let lo = group.map { original[$0] }.min()!, hi = group.map { original[$0] }.max()!
                let bound = (hi - lo + abs(lo) / 1024) / (2 * top) * 1.001 + slack
                for i in group {
                    let err = abs(got[i] - original[i])
                    XCTAssertLessThanOrEqual(err, bound, "\(codec)")
                    worstRelative = max(worstRelative, err / (hi - lo))
                }
            }
            // int3 and int2 give the prefix's keys a group of their own, then groups of 32.
            let lead = codec.prefixKeyGroup ? memory.prefixTokenCount : 0
            let keyGroups = (lead > 0 ? [0 ..< lead] : []) + stride(from: lead, to: t, by: g).map { $0 ..< min($0 + g, t) }
            for row in 0 ..< memory.rowCount {
                for channel in 0 ..< d {
                    for tokens in keyGroups {
                        check(coded.keys, decoded.keys, tokens.map { row * t * d + $0 * d + channel })
                    }
                }
                for token in 0 ..< t {
                    for start in stride(from: 0, to: d, by: g) {
                        check(coded.values, decoded.values, (start ..< min(start + g, d)).map { row * t * d + token * d + $0 })
                    }
                }
            }
            XCTAssertGreaterThan(worstRelative, 0.8 / (2 * top), "\(codec): the bound is tight, not vacuous")
        }
    }

    /// int3r: rotated vectors coded with the 8 Lloyd-Max levels of a Gaussian, groups of 64. Stated
    /// error: the squared error is at most 5% of the data's variance around each group's mean
    /// (Lloyd-Max's is 3.45% for Gaussian data, which rotated vectors approach), measured where the
    /// codes live (rotated space; the rotation keeps squared errors) and checked to be that large
    /// at all; and every decoded value sits on its group's mean + level x deviation grid.
    func testInt3rErrorIsWithinLloydMaxOfTheGroupVariance() throws {
        let memory = randomMemory(tokens: 150, prefix: 3)  // key groups: 3 + 64 + 64 + 19
        let decoded = try roundTrip(memory, .int3r).memory
        let count = memory.rowCount * memory.tokenCount, d = memory.headDim, t = memory.tokenCount
        XCTAssertEqual(MemoryCodec.int3r.groupSize, 64)
        for part in ["keys", "values"] {
            var original = part == "keys" ? memory.keys : memory.values
            var got = part == "keys" ? decoded.keys : decoded.values
            HadamardRotation.rotate(&original, count: count, dim: d)
            HadamardRotation.rotate(&got, count: count, dim: d)
            var groups: [[Int]] = []
            for row in 0 ..< memory.rowCount {
                if part == "keys" {
                    let runs = [0 ..< 3, 3 ..< 67, 67 ..< 131, 131 ..< 150]
                    for c in 0 ..< d { for r in runs { groups.append(r.map { row * t * d + $0 * d + c }) } }
                } else {
                    for token in 0 ..< t { groups.append((0 ..< d).map { row * t * d + token * d + $0 }) }
                }
            }
            var error: Double = 0, variance: Double = 0
            for group in groups where group.count > 3 {
                let mean = group.map { Double(original[$0]) }.reduce(0, +) / Double(group.count)
                for i in group {
                    error += pow(Double(got[i] - original[i]), 2)
                    variance += pow(Double(original[i]) - mean, 2)
                }
                // On the grid: at most 8 distinct values per group (up to the rotation's float rounding).
                let sorted = group.map { got[$0] }.sorted()
                let tolerance = 1e-3 * (sorted.last! - sorted.first!) + 1e-5
                let distinct = 1 + zip(sorted, sorted.dropFirst()).filter { $1 - $0 > tolerance }.count
                XCTAssertLessThanOrEqual(distinct, 8, "\(part)")
            }
            let ratio = error / variance
            XCTAssertLessThanOrEqual(ratio, 0.05, "\(part)")
            XCTAssertGreaterThan(ratio, 0.02, "\(part): the bound is tight, not vacuous")
        }
    }

    /// Codes are a little-endian bit stream: at 4 bits element 0 sits in the low nibble of byte 0
    /// (the layout int4 blobs were written in before int3 and int2 existed); at 3 bits element 2
    /// straddles bytes 0 and 1.
    func testLowBitCodesAreALittleEndianBitStream() throws {
        // One value vector of 32 dims whose codes are the values themselves (zero 0, scale 1).
        var memory = randomMemory(layers: [0], heads: 1, headDim: 32, tokens: 1, prefix: 0)
        for (codec, expected) in [(MemoryCodec.int4, [UInt8](arrayLiteral: 0x10, 0x32)), (.int3, [0x88, 0xC6])] {
            let top = (1 << codec.lowBits!) - 1
            memory.values = (0 ..< 32).map { Float($0 % (top + 1)) }
            let codes = memory.values.map { Int($0) }
            let bits = codec.lowBits!
            // The stream built by hand from the codes, first two bytes.
            var stream = [UInt8](repeating: 0, count: (32 * bits + 7) / 8)
            for (n, q) in codes.enumerated() {
                for b in 0 ..< bits where q >> b & 1 == 1 { stream[(bits * n + b) / 8] |= 1 << UInt8((bits * n + b) % 8) }
            }
            XCTAssertEqual(Array(stream.prefix(2)), expected, "\(codec): hand-built stream")
            let shape = KVQuantization.Shape(rows: 1, tokens: 1, headDim: 32)
            var out = [UInt8](repeating: 0, count: 4 + stream.count)
            memory.values.withUnsafeBufferPointer { v in
                out.withUnsafeMutableBytes { o in _ = KVQuantization.encodeLowBitValues(v.baseAddress!, shape, bits: bits, into: o.baseAddress!) }
            }
            XCTAssertEqual(Array(out.dropFirst(4)), stream, "\(codec)")
            XCTAssertEqual(try roundTrip(memory, codec).memory.values, memory.values, "\(codec)")
        }
    }

    func testConstantAndZeroTensorsRoundTripWithoutNaN() throws {
        var memory = randomMemory(tokens: 5)
        memory.keys = [Float](repeating: 0, count: memory.keys.count)
        memory.values = [Float](repeating: 3.25, count: memory.values.count)
        for codec in MemoryCodec.allCases {
            let decoded = try roundTrip(memory, codec).memory
            XCTAssertEqual(decoded.keys, memory.keys, "\(codec)")
            // fp16 and the low-bit codecs (zero point = the constant) are exact; int8 is within half a
            // step. A constant vector is the rotation's worst case (it turns into a few large
            // components and many small ones), so int3r and int2r are only held to finite values of
            // the right size.
            let bound: Float = codec == .int8 ? 3.25 / 254 * 1.001 : codec.rotated ? 3.25 * 1.01 : 0
            XCTAssertTrue(decoded.values.allSatisfy(\.isFinite), "\(codec)")
            XCTAssertLessThanOrEqual(maxAbsoluteDifference(decoded.values, memory.values), bound, "\(codec)")
        }
    }

    func testNonFiniteValuesAreRefusedWhenEncoding() throws {
        var memory = randomMemory(tokens: 4)
        memory.values[7] = .nan
        XCTAssertThrowsError(try MemoryCodec.int8.encode(memory, profile: "dense", fingerprint: fingerprint)) {
            XCTAssertEqual($0 as? MemoryCodecError, .nonFiniteValue)
        }
    }

    func testHugeValuesSaturateInsteadOfTurningIntoInfinity() throws {
        var memory = randomMemory(tokens: 4)
        memory.keys[0] = 1e30
        for codec in MemoryCodec.allCases {
            let decoded = try roundTrip(memory, codec).memory
            XCTAssertTrue(decoded.keys.allSatisfy(\.isFinite), "\(codec)")
            XCTAssertTrue(decoded.values.allSatisfy(\.isFinite), "\(codec)")
        }
    }

    func testMemoryWrittenByAnotherModelIsRefusedWithBothFingerprints() throws {
        let blob = try MemoryCodec.int8.encode(randomMemory(), profile: "dense", fingerprint: fingerprint)
        let other = String(repeating: "cd", count: 32)
        XCTAssertThrowsError(try MemoryCodec.decode(blob, expectedFingerprint: other)) {
            XCTAssertEqual($0 as? MemoryCodecError, .modelMismatch(expected: other, found: fingerprint))
            XCTAssertTrue("\($0)".contains("another model"))
        }
        XCTAssertNoThrow(try MemoryCodec.decode(blob, expectedFingerprint: nil))
    }

    func testOtherVersionAndMagicAreTypedErrors() throws {
        var blob = try MemoryCodec.fp16.encode(randomMemory(tokens: 3), profile: "dense", fingerprint: fingerprint)
        var future = blob
        future[4] = 3  // version 3
        XCTAssertThrowsError(try MemoryCodec.decode(future, expectedFingerprint: nil)) {
            XCTAssertEqual($0 as? MemoryCodecError, .unsupportedVersion(3, supported: 2))
        }
        blob[0] = UInt8(ascii: "X")
        XCTAssertThrowsError(try MemoryCodec.decode(blob, expectedFingerprint: nil)) {
            XCTAssertEqual($0 as? MemoryCodecError, .notAMemoryBlob)
        }
        XCTAssertThrowsError(try MemoryCodec.decode([], expectedFingerprint: nil)) {
            XCTAssertEqual($0 as? MemoryCodecError, .truncated(needed: 4, available: 0))
        }
    }

    func testEveryTruncationIsATypedError() throws {
        let blob = try MemoryCodec.int4.encode(randomMemory(tokens: 9), profile: "paper", fingerprint: fingerprint)
        for length in 0 ..< blob.count {
            XCTAssertThrowsError(try MemoryCodec.decode(Array(blob[..<length]), expectedFingerprint: fingerprint)) {
                XCTAssertTrue($0 is MemoryCodecError, "length \(length): \($0)")
            }
        }
        XCTAssertThrowsError(try MemoryCodec.decode(blob + [0], expectedFingerprint: fingerprint)) {
            XCTAssertTrue($0 is MemoryCodecError)
        }
    }

    /// Thousands of random corruptions (bit flips, byte overwrites, cuts, insertions, garbage
    /// appended, runs zeroed): each decode either throws a `MemoryCodecError` or, when the
    /// corruption changed nothing, returns the original. Never a crash, never a silent change.
    func testRandomCorruptionsAreTypedErrorsNeverCrashesOrSilentChanges() throws {
        var random = SeededGenerator(seed: 2024)
        var blobs: [(blob: [UInt8], decoded: DecodedMemory)] = []
        for (i, codec) in MemoryCodec.allCases.enumerated() {
            let memory = randomMemory(layers: [0, 2], heads: 2, headDim: 32, tokens: 11 + i, prefix: 1, seed: UInt64(i))
            let blob = try codec.encode(memory, profile: "dense", fingerprint: fingerprint)
            blobs.append((blob, try MemoryCodec.decode(blob, expectedFingerprint: fingerprint)))
        }
        var kinds: [String: Int] = [:]
        for trial in 0 ..< 4000 {
            let (original, expected) = blobs[trial % blobs.count]
            var blob = original
            let kind = Int(random.next() % 6)
            let at = Int(random.next() % UInt64(blob.count))
            switch kind {
            case 0: blob[at] ^= UInt8(1 << (random.next() % 8))
            case 1: for _ in 0 ..< 1 + Int(random.next() % 8) { blob[Int(random.next() % UInt64(blob.count))] = UInt8(truncatingIfNeeded: random.next()) }
            case 2: blob.removeSubrange(at...)
            case 3: blob.insert(UInt8(truncatingIfNeeded: random.next()), at: at)
            case 4: blob += (0 ..< 1 + Int(random.next() % 16)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            default: for i in at ..< min(blob.count, at + 1 + Int(random.next() % 64)) { blob[i] = 0 }
            }
            do {
                let decoded = try MemoryCodec.decode(blob, expectedFingerprint: fingerprint)
                XCTAssertTrue(blob == original, "trial \(trial): a changed blob decoded without error")
                XCTAssertTrue(decoded == expected, "trial \(trial)")
                kinds["unchanged", default: 0] += 1
            } catch let error as MemoryCodecError {
                kinds[String("\(error)".prefix(30)), default: 0] += 1
            } catch {
                XCTFail("trial \(trial): untyped error \(error)")
            }
        }
        XCTAssertGreaterThan(kinds.count, 3, "\(kinds)")
    }

    /// The sizes MEMORY3.md quotes for a 128-token reference on SmolLM2 (30 layers x 3 KV heads x
    /// 64 dims), before zlib: fp16 2,880 KiB, int8 ~1,474 KiB, int4 900 KiB, int3 720 KiB, int2 540 KiB (+ positions;
    /// a third of int4-int2 is group parameters).
    func testPayloadSizesMatchTheMeasuredTable() {
        let rows = 30 * 3, t = 128, d = 64
        func kib(_ c: MemoryCodec) -> Int {
            (c.sectionSize(rows: rows, tokens: t, headDim: d, keys: true) + c.sectionSize(rows: rows, tokens: t, headDim: d, keys: false)) / 1024
        }
        XCTAssertEqual(kib(.fp16), 2880)
        XCTAssertEqual(kib(.int8), 1473)
        XCTAssertEqual(kib(.int4), 900)
        XCTAssertEqual(kib(.int3), 720)
        XCTAssertEqual(kib(.int2), 540)
        XCTAssertEqual(kib(.int2r), 540)
        // int3r: groups of 64, so half the group parameters of int3: 3 bits + 0.5 a value.
        XCTAssertEqual(kib(.int3r), 630)
        // With a 3-token prefix as its own key group: one more group per channel (4 bytes each).
        XCTAssertEqual(MemoryCodec.int3.sectionSize(rows: rows, tokens: t + 3, headDim: d, keys: true, prefix: 3)
                       - MemoryCodec.int3.sectionSize(rows: rows, tokens: t + 3, headDim: d, keys: true), 0,
                       "131 tokens: 3 + 4 x 32 groups, as many as 5 groups of up to 32")
    }

    func testCodecNamesParse() throws {
        XCTAssertEqual(try MemoryCodec(parsing: "INT4"), .int4)
        XCTAssertEqual(MemoryCodec.default, .int8)
        XCTAssertEqual(try MemoryCodec(parsing: "int3"), .int3)
        XCTAssertEqual(try MemoryCodec(parsing: "int2"), .int2)
        XCTAssertEqual(try MemoryCodec(parsing: "int3r"), .int3r)
        XCTAssertEqual(try MemoryCodec(parsing: "Int2R"), .int2r)
        XCTAssertEqual(Set(MemoryCodec.allCases.map(\.id)).count, MemoryCodec.allCases.count, "header ids are unique")
        XCTAssertThrowsError(try MemoryCodec(parsing: "int1")) {
            XCTAssertEqual($0 as? MemoryCodecError, .unknownCodec("int1"))
        }
    }

    func testDroppingThePrefixRemovesItFromEveryHead() {
        let memory = randomMemory(layers: [0, 1], heads: 2, headDim: 4, tokens: 5, prefix: 2)
        let all = memory.segment(logitBias: -4, precision: .float32)
        XCTAssertEqual(all.tokenCount, 5)
        XCTAssertEqual(all.logitBias, -4)
        XCTAssertEqual(all.keys, memory.keys)
        let body = memory.segment(dropPrefix: true, precision: .float32)
        XCTAssertEqual(body.tokenCount, 3)
        for row in 0 ..< 4 {
            XCTAssertEqual(Array(body.keys[row * 12 ..< (row + 1) * 12]), Array(memory.keys[row * 20 + 8 ..< (row + 1) * 20]))
            XCTAssertEqual(Array(body.values[row * 12 ..< (row + 1) * 12]), Array(memory.values[row * 20 + 8 ..< (row + 1) * 20]))
        }
    }

    /// A memory's int8 segments are made once and shared by its copies (the cache hands out
    /// copies; a swap must not quantize a cached memory again), each read with its own bias; new
    /// key/values make new ones.
    func testTheInt8SegmentsAreMadeOnceAndRemadeWhenTheKeyValuesChange() {
        var memory = randomMemory(layers: [0, 1], heads: 2, headDim: 8, tokens: 6, prefix: 2)
        let copy = memory
        let biased = memory.segment(logitBias: -4)
        let plain = copy.segment()
        XCTAssert(biased.storage === plain.storage, "one quantization for the memory and its copy")
        XCTAssertEqual(biased.logitBias, -4)
        XCTAssertEqual(plain.logitBias, 0)
        XCTAssert(memory.segment(dropPrefix: true).storage === copy.segment(dropPrefix: true).storage)
        XCTAssertFalse(memory.segment(dropPrefix: true).storage === plain.storage, "whole and body are apart")
        memory.keys = memory.keys.map { -$0 }
        let changed = memory.segment()
        XCTAssertFalse(changed.storage === plain.storage)
        XCTAssertEqual(changed.keys, plain.keys.map { -$0 }, "the new keys' codes")
        XCTAssert(copy.segment().storage === plain.storage, "the unchanged copy keeps its own")
    }

    /// Attention reads a memory as int8 (MemorySegment.Precision.int8): keys per channel with the
    /// kept prefix scaled apart (the sink's large keys would coarsen the body's codes), values per
    /// token; every element within half a step of its scale.
    func testAttentionReadsTheMemoryAsInt8ByDefaultWithThePrefixScaledApart() {
        var memory = randomMemory(layers: [0, 1], heads: 2, headDim: 4, tokens: 5, prefix: 2)
        // The prefix's keys 50x the body's, as the attention sink's are.
        memory.keys = memory.keys.enumerated().map { i, k in (i / 4) % 5 < 2 ? 50 * k : k }
        func assertWithinHalfAStep(_ got: [Float], _ want: [Float], tokens: Int, groups: (Int) -> Int, perChannel: Bool,
                                   _ label: String) {
            for row in 0 ..< 4 {
                for group in Set((0 ..< tokens).map(groups)) {
                    let members = (0 ..< tokens).filter { groups($0) == group }
                    for d in 0 ..< 4 {
                        for t in members {
                            let span = perChannel ? members.map { row * tokens * 4 + $0 * 4 + d } : (0 ..< 4).map { row * tokens * 4 + t * 4 + $0 }
                            let step = span.map { abs(want[$0]) }.max()! / 127
                            let i = row * tokens * 4 + t * 4 + d
                            XCTAssertLessThanOrEqual(abs(got[i] - want[i]), 0.5 * step * 1.0001, "\(label) row \(row) token \(t) dim \(d)")
                        }
                    }
                }
            }
        }
        let all = memory.segment()
        XCTAssertEqual(all.precision, .int8)
        XCTAssertEqual(all.tokenCount, 5)
        assertWithinHalfAStep(all.keys, memory.keys, tokens: 5, groups: { $0 < 2 ? 0 : 1 }, perChannel: true, "keys")
        assertWithinHalfAStep(all.values, memory.values, tokens: 5, groups: { $0 }, perChannel: false, "values")
        let exactBody = memory.segment(dropPrefix: true, precision: .float32)
        let body = memory.segment(dropPrefix: true)
        XCTAssertEqual(body.tokenCount, 3)
        assertWithinHalfAStep(body.keys, exactBody.keys, tokens: 3, groups: { _ in 0 }, perChannel: true, "body keys")
        assertWithinHalfAStep(body.values, exactBody.values, tokens: 3, groups: { $0 }, perChannel: false, "body values")
        let rebuilt = EncodedMemory(layers: memory.layers, kvHeadCount: memory.kvHeadCount, headDim: memory.headDim,
                                    tokenCount: memory.tokenCount, prefixTokenCount: memory.prefixTokenCount,
                                    positions: memory.positions, keys: memory.keys, values: memory.values)
        XCTAssertEqual(rebuilt.segment(), all, "quantized again (no shared cache), the same codes and scales")
    }
}
