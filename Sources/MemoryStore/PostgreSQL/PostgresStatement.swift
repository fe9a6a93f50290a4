import CLibPQ
import CSQLite
import Foundation

/// A statement run with `PQexecParams` when first stepped; its rows are then read from the result.
/// Parameters go typed (int8, float8, text, bytea), text and bytea in binary form (no escaping,
/// no NUL cut-off); results come as text (bytea as `\x` hex).
final class PostgresStatement: SQLStatement {
    private unowned let database: PostgresDatabase
    let sql: String
    private var parameters: [SQLiteValue] = []
    private var result: OpaquePointer?
    private var row: Int32 = -1
    private var rowCount: Int32 = 0

    init(database: PostgresDatabase, sql: String) {
        self.database = database
        self.sql = sql
    }

    deinit { PQclear(result) }

    /// SQLite's `?` and `?N` parameters as PostgreSQL's `$N` (outside quoted literals).
    static func numberedParameters(_ sql: String) -> String {
        var output = ""
        output.reserveCapacity(sql.utf8.count + 16)
        var next = 0
        var inLiteral = false
        var characters = sql.makeIterator()
        var pending: Character? = characters.next()
        while let character = pending {
            pending = characters.next()
            if character == "'" { inLiteral.toggle() }
            guard character == "?", !inLiteral else {
                output.append(character)
                continue
            }
            var digits = ""
            while let digit = pending, digit.isASCII, digit.isNumber {
                digits.append(digit)
                pending = characters.next()
            }
            if digits.isEmpty {
                next += 1
                digits = String(next)
            } else {
                // As SQLite: a bare ? after ?N is ?(N+1).
                next = max(next, Int(digits) ?? next)
            }
            output += "$" + digits
        }
        return output
    }

    func bind(_ value: SQLiteValue, at index: Int32) throws {
        let position = Int(index) - 1
        guard position >= 0 else {
            throw SQLiteError(code: SQLITE_RANGE, extendedCode: SQLITE_RANGE, message: "parameter index \(index) out of range", sql: sql)
        }
        if parameters.count <= position { parameters += Array(repeating: .null, count: position + 1 - parameters.count) }
        parameters[position] = value
    }

    func step() throws -> Bool {
        if result == nil { try runQuery() }
        row += 1
        return row < rowCount
    }

    private func runQuery() throws {
        let connection = try database.live()
        var types: [Oid] = []
        var formats: [Int32] = []
        var lengths: [Int32] = []
        var buffers: [UnsafeMutableRawPointer?] = []
        defer { buffers.forEach { free($0) } }
        for value in parameters {
            let bytes: [UInt8]?
            switch value {
            case .integer(let v): types.append(20); formats.append(0); bytes = Array("\(v)".utf8) + [0]
            case .real(let v): types.append(701); formats.append(0); bytes = Array(Self.floatText(v).utf8) + [0]
            case .text(let v): types.append(25); formats.append(1); bytes = Array(v.utf8)
            case .blob(let v): types.append(17); formats.append(1); bytes = v
            case .null: types.append(0); formats.append(0); bytes = nil
            }
            if let bytes {
                let buffer = malloc(max(1, bytes.count))
                bytes.withUnsafeBytes { if let base = $0.baseAddress { buffer?.copyMemory(from: base, byteCount: bytes.count) } }
                buffers.append(buffer)
                lengths.append(Int32(clamping: bytes.count))
            } else {
                buffers.append(nil)
                lengths.append(0)
            }
        }
        let values: [UnsafePointer<CChar>?] = buffers.map { $0.map { UnsafePointer($0.assumingMemoryBound(to: CChar.self)) } }
        let result = PQexecParams(connection, sql, Int32(parameters.count), types, values, lengths, formats, 0)
        do {
            try database.check(result, sql: sql)
        } catch {
            PQclear(result)
            throw error
        }
        database.recordChanges(result)
        self.result = result
        row = -1
        rowCount = PQntuples(result)
    }

    private static func floatText(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Infinity" : "Infinity" }
        return "\(value)"
    }

    func reset(clearBindings: Bool) {
        PQclear(result)
        result = nil
        row = -1
        rowCount = 0
        if clearBindings { parameters = [] }
    }

    func finalize() { reset(clearBindings: true) }

    // MARK: Columns of the current row

    func isNull(_ column: Int32) -> Bool {
        guard let result, row < rowCount else { return true }
        return PQgetisnull(result, row, column) != 0
    }

    private func text(_ column: Int32) -> UnsafeBufferPointer<UInt8>? {
        guard let result, row < rowCount, PQgetisnull(result, row, column) == 0, let value = PQgetvalue(result, row, column) else { return nil }
        let count = Int(PQgetlength(result, row, column))
        return UnsafeBufferPointer(start: UnsafeRawPointer(value).assumingMemoryBound(to: UInt8.self), count: count)
    }

    func int64(_ column: Int32) -> Int64 {
        guard let bytes = text(column) else { return 0 }
        let string = String(decoding: bytes, as: UTF8.self)
        // numeric sums print as integers; a float column read as an integer truncates, as SQLite does.
        return Int64(string) ?? Double(string).map { Int64($0) } ?? 0
    }

    func double(_ column: Int32) -> Double {
        guard let bytes = text(column) else { return 0 }
        return Double(String(decoding: bytes, as: UTF8.self)) ?? 0
    }

    func string(_ column: Int32) -> String {
        guard let bytes = text(column) else { return "" }
        return String(decoding: bytes, as: UTF8.self)
    }

    func blob(_ column: Int32) -> [UInt8] {
        guard let bytes = text(column) else { return [] }
        return Self.decodeHex(bytes) ?? Array(bytes)
    }

    /// bytea's text output, `\x` followed by two hex digits per byte.
    static func decodeHex(_ text: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        guard text.count >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x"), text.count % 2 == 0 else { return nil }
        let count = (text.count - 2) / 2
        return [UInt8](unsafeUninitializedCapacity: count) { output, initialized in
            for i in 0 ..< count {
                output[i] = hexValue(text[2 + 2 * i]) << 4 | hexValue(text[3 + 2 * i])
            }
            initialized = count
        }
    }

    @inline(__always)
    private static func hexValue(_ digit: UInt8) -> UInt8 {
        digit <= UInt8(ascii: "9") ? digit &- UInt8(ascii: "0") : (digit | 0x20) &- UInt8(ascii: "a") &+ 10
    }
}
