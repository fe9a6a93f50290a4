import CSQLite
import Foundation

/// SQLite's own FTS5 tokenizer, called directly: the tokens FTS5 indexes a text under (or looks a
/// query word up by), so that an index of ours (`LexicalIndex`) agrees with `reference_fts` token
/// for token, stemming and diacritics included, without a second implementation of either.
///
/// It runs on a private in-memory connection (the tokenizer needs only the FTS5 module, not the
/// store). Not thread-safe: its owner serializes calls.
final class FTS5Tokenizer {
    /// The store's tokenizer (Schema: `reference_fts`), as FTS5 arguments.
    static let storeArguments = ["porter", "unicode61", "remove_diacritics", "2"]

    private let connection: Database
    private var module = fts5_tokenizer()
    private var instance: OpaquePointer?

    init(arguments: [String] = FTS5Tokenizer.storeArguments) throws(SQLiteError) {
        connection = try Database(path: ":memory:", options: [.readWrite, .create, .noMutex])
        guard let handle = connection.handle else {
            throw SQLiteError(code: SQLITE_MISUSE, extendedCode: SQLITE_MISUSE, message: "no connection")
        }
        // FTS5 hands its API out through `SELECT fts5(?)` with a pointer parameter.
        var api: UnsafeMutablePointer<fts5_api>?
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(handle, "SELECT fts5(?1)", -1, &statement, nil) == SQLITE_OK else {
            throw SQLiteError(connection: handle, resultCode: sqlite3_errcode(handle))
        }
        defer { sqlite3_finalize(statement) }
        withUnsafeMutablePointer(to: &api) { slot in
            _ = sqlite3_bind_pointer(statement, 1, UnsafeMutableRawPointer(slot), "fts5_api_ptr", nil)
            _ = sqlite3_step(statement)
        }
        guard let api, let find = api.pointee.xFindTokenizer else {
            throw SQLiteError(code: SQLITE_ERROR, extendedCode: SQLITE_ERROR, message: "this SQLite has no FTS5")
        }
        var context: UnsafeMutableRawPointer?
        guard find(api, arguments[0], &context, &module) == SQLITE_OK, let create = module.xCreate else {
            throw SQLiteError(code: SQLITE_ERROR, extendedCode: SQLITE_ERROR, message: "no FTS5 tokenizer \(arguments[0])")
        }
        // C strings that live through xCreate (which copies what it keeps).
        let rest = arguments.dropFirst().map { strdup($0) }
        defer { rest.forEach { free($0) } }
        var pointers = rest.map { UnsafePointer<CChar>($0) }
        let rc = pointers.withUnsafeMutableBufferPointer { buffer in
            create(context, buffer.baseAddress, Int32(buffer.count), &instance)
        }
        guard rc == SQLITE_OK, instance != nil else {
            throw SQLiteError(code: rc, extendedCode: rc, message: "cannot create the FTS5 tokenizer \(arguments.joined(separator: " "))")
        }
    }

    deinit {
        if let instance { module.xDelete?(instance) }
    }

    /// The tokens of `text` in order (a word FTS5 would split yields several; a text of separators
    /// none). `query`: tokenize as FTS5 tokenizes a MATCH string (the same here: porter and
    /// unicode61 give no synonyms).
    func tokens(_ text: String, query: Bool = false) -> [String] {
        guard let tokenize = module.xTokenize, !text.isEmpty else { return [] }
        final class Sink { var tokens: [String] = [] }
        let sink = Sink()
        let flags = query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT
        var text = text
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                _ = tokenize(instance, Unmanaged.passUnretained(sink).toOpaque(), flags, chars.baseAddress, Int32(chars.count)) { context, _, token, length, _, _ in
                    guard let context, let token else { return SQLITE_OK }
                    let sink = Unmanaged<Sink>.fromOpaque(context).takeUnretainedValue()
                    let bytes = UnsafeRawBufferPointer(start: token, count: Int(length))
                    sink.tokens.append(String(decoding: bytes, as: UTF8.self))
                    return SQLITE_OK
                }
            }
        }
        return sink.tokens
    }
}
