import Foundation

/// The SQL dialects a store speaks: the same tables and the same statements where the two agree,
/// a branch where they do not (full-text search, schema, maintenance).
enum SQLDialect: Sendable, Equatable {
    /// An embedded file (`Database`): one writer at a time, FTS5 for BM25.
    case sqlite
    /// A PostgreSQL server (`PostgresDatabase`): shared by replicas, `tsvector` full-text search.
    case postgres
}

/// One connection to the store's database, as the store's code uses it. Not thread-safe: the
/// owning `MemoryStore` serializes access under its lock.
protocol SQLConnection: AnyObject {
    var dialect: SQLDialect { get }
    /// Runs one or more statements without parameters; rows are ignored. Never pass user input.
    func execute(_ sql: String) throws
    /// Prepares one statement with `?` (or `?N`) parameters.
    func prepareStatement(_ sql: String) throws -> any SQLStatement
    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int { get }
    /// True when no transaction is open.
    var isAutocommit: Bool { get }
    /// What starts a transaction of `kind`.
    func begin(_ kind: TransactionKind) throws
    /// Savepoints open inside the current transaction (names them).
    var savepointDepth: Int { get set }
    func close()
}

/// How a transaction takes its locks.
enum TransactionKind: Sendable {
    /// A writer: waits for (and then excludes) every other writer of the store from BEGIN on, so
    /// that it never fails half-way for want of a lock, and reads what the last writer committed.
    case immediate
    /// A reader: one consistent snapshot of the store.
    case deferred
}

/// A prepared statement: bind parameters (from 1), step through rows, read columns (from 0).
protocol SQLStatement: AnyObject {
    func bind(_ value: SQLiteValue, at index: Int32) throws
    /// Advances to the next row: true when a row is available, false when the statement is done.
    @discardableResult func step() throws -> Bool
    /// Makes the statement ready to run again, keeping its bindings unless `clearBindings`.
    func reset(clearBindings: Bool)
    func finalize()
    func isNull(_ column: Int32) -> Bool
    func int64(_ column: Int32) -> Int64
    func double(_ column: Int32) -> Double
    func string(_ column: Int32) -> String
    func blob(_ column: Int32) -> [UInt8]
}

extension SQLStatement {
    func bind(_ value: Int64, at index: Int32) throws { try bind(.integer(value), at: index) }
    func bind(_ value: Int, at index: Int32) throws { try bind(.integer(Int64(value)), at: index) }
    func bind(_ value: Double, at index: Int32) throws { try bind(.real(value), at: index) }
    func bind(_ value: String, at index: Int32) throws { try bind(.text(value), at: index) }
    func bind(_ value: [UInt8], at index: Int32) throws { try bind(.blob(value), at: index) }
    func bind(_ value: Data, at index: Int32) throws { try bind(.blob([UInt8](value)), at: index) }
    func bindNull(at index: Int32) throws { try bind(.null, at: index) }

    /// Binds `values` to parameters 1, 2, ... in order.
    func bind(_ values: [SQLiteValue]) throws {
        for (offset, value) in values.enumerated() { try bind(value, at: Int32(offset + 1)) }
    }

    /// Runs the statement to completion, ignoring any rows.
    func run() throws { while try step() {} }

    func reset() { reset(clearBindings: true) }

    func int(_ column: Int32) -> Int { Int(int64(column)) }

    func optionalString(_ column: Int32) -> String? { isNull(column) ? nil : string(column) }
}

extension SQLConnection {
    /// Prepares `sql`, hands the statement to `body`, and finalizes it when `body` returns or throws.
    func withStatement<T>(_ sql: String, _ body: (any SQLStatement) throws -> T) throws -> T {
        let statement = try prepareStatement(sql)
        defer { statement.finalize() }
        return try body(statement)
    }

    /// Runs a statement with parameters to completion.
    func run(_ sql: String, _ values: [SQLiteValue] = []) throws {
        try withStatement(sql) { statement in
            try statement.bind(values)
            try statement.run()
        }
    }

    /// The first column of the first row as an integer, or nil when there is no row or it is NULL.
    func scalarInt(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int64? {
        try withStatement(sql) { statement in
            try statement.bind(values)
            guard try statement.step(), !statement.isNull(0) else { return nil }
            return statement.int64(0)
        }
    }

    /// The first column of the first row as text, or nil when there is no row or it is NULL.
    func scalarString(_ sql: String, _ values: [SQLiteValue] = []) throws -> String? {
        try withStatement(sql) { statement in
            try statement.bind(values)
            guard try statement.step(), !statement.isNull(0) else { return nil }
            return statement.string(0)
        }
    }

    /// The first column of every row as text.
    func strings(_ sql: String, _ values: [SQLiteValue] = []) throws -> [String] {
        try withStatement(sql) { statement in
            try statement.bind(values)
            var rows: [String] = []
            while try statement.step() { rows.append(statement.string(0)) }
            return rows
        }
    }

    /// Runs `body` in a transaction: committed when `body` returns, rolled back when it throws.
    /// Nested calls use savepoints, so an inner failure undoes only the inner work.
    func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        if !isAutocommit { return try savepoint(body) }
        try begin(kind)
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            // The database may already have rolled back by itself (SQLite on SQLITE_FULL, ...).
            if !isAutocommit { try? execute("ROLLBACK") }
            throw error
        }
    }

    private func savepoint<T>(_ body: () throws -> T) throws -> T {
        savepointDepth += 1
        defer { savepointDepth -= 1 }
        let name = "nested_\(savepointDepth)"
        try execute("SAVEPOINT \(name)")
        do {
            let result = try body()
            try execute("RELEASE \(name)")
            return result
        } catch {
            if !isAutocommit {
                try? execute("ROLLBACK TO \(name)")
                try? execute("RELEASE \(name)")
            }
            throw error
        }
    }
}
