// A value copied out of SQLite (a changeset's or a row's), and the few statement helpers the merge
// needs: bind, step, read rows, on one connection, every result code checked.
import CSQLite

/// One SQLite value, owned by Swift (a changeset's values die with its iterator).
enum SQLValue: Equatable, Sendable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    init(_ value: OpaquePointer) {
        switch sqlite3_value_type(value) {
        case SQLITE_INTEGER: self = .integer(sqlite3_value_int64(value))
        case SQLITE_FLOAT: self = .real(sqlite3_value_double(value))
        case SQLITE_TEXT:
            // By its byte count, not up to the first NUL: a TEXT value may hold NUL bytes.
            let p = sqlite3_value_text(value)
            self = .text(SQLValue.text(p, Int(sqlite3_value_bytes(value))))
        case SQLITE_BLOB:
            let n = Int(sqlite3_value_bytes(value))
            guard n > 0, let p = sqlite3_value_blob(value) else {
                self = .blob([])
                return
            }
            self = .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        default: self = .null
        }
    }

    /// Column `i` of a statement's current row.
    init(column stmt: OpaquePointer, _ i: Int32) {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: self = .integer(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: self = .real(sqlite3_column_double(stmt, i))
        case SQLITE_TEXT:
            let p = sqlite3_column_text(stmt, i)
            self = .text(SQLValue.text(p, Int(sqlite3_column_bytes(stmt, i))))
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard n > 0, let p = sqlite3_column_blob(stmt, i) else {
                self = .blob([])
                return
            }
            self = .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        default: self = .null
        }
    }

    static func text(_ p: UnsafePointer<UInt8>?, _ count: Int) -> String {
        guard let p, count > 0 else { return "" }
        return String(decoding: UnsafeBufferPointer(start: p, count: count), as: UTF8.self)
    }

    /// As the report and the log show a key: 101, 'ABC', x'00ff', NULL.
    var description: String {
        switch self {
        case .null: "NULL"
        case .integer(let v): String(v)
        case .real(let v): String(v)
        case .text(let s): "'" + s.replacingAll("'", with: "''") + "'"
        case .blob(let b): "x'" + b.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined() + "'"
        }
    }

    var integer: Int64? { if case .integer(let v) = self { v } else { nil } }
}

/// An SQL identifier, quoted: "name" with inner quotes doubled.
func quoted(_ name: String) -> String { "\"" + name.replacingAll("\"", with: "\"\"") + "\"" }

extension SQLite.Connection {
    /// Runs `sql` with `values` bound to ?1...; returns every row. A failure names the statement.
    @discardableResult
    func rows(_ sql: String, _ values: [SQLValue] = []) throws(EntrypointError) -> [[SQLValue]] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK, let stmt else {
            sqlite3_finalize(stmt)
            throw EntrypointError(.localIO, "\(path): \(sql): \(errorMessage)")
        }
        defer { sqlite3_finalize(stmt) }
        for (i, value) in values.enumerated() {
            let rc = bind(stmt, Int32(i + 1), value)
            guard rc == SQLITE_OK else { throw EntrypointError(.localIO, "\(path): binding a value for \(sql): \(errorMessage)") }
        }
        var result: [[SQLValue]] = []
        let columns = sqlite3_column_count(stmt)
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_ROW {
                result.append((0..<columns).map { SQLValue(column: stmt, $0) })
            } else if rc == SQLITE_DONE {
                return result
            } else {
                throw EntrypointError(.localIO, "\(path): \(sql): \(errorMessage)")
            }
        }
    }

    /// Runs statements without results (no bound values).
    func exec(_ sql: String) throws(EntrypointError) {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw EntrypointError(.localIO, "\(path): \(sql): \(errorMessage)") }
    }

    private func bind(_ stmt: OpaquePointer, _ i: Int32, _ value: SQLValue) -> Int32 {
        switch value {
        case .null: return sqlite3_bind_null(stmt, i)
        case .integer(let v): return sqlite3_bind_int64(stmt, i, v)
        case .real(let v): return sqlite3_bind_double(stmt, i, v)
        case .text(let s):
            // By its byte count (a NUL inside the text is part of it).
            if s.isEmpty { return sqlite3_bind_text(stmt, i, "", 0, sqliteTransient) }  // '', not NULL
            var s = s
            return s.withUTF8 { u in
                u.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(stmt, i, $0.baseAddress, Int32($0.count), sqliteTransient) }
            }
        case .blob(let b):
            return b.withUnsafeBytes { sqlite3_bind_blob(stmt, i, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(b.count), sqliteTransient) }
        }
    }
}

/// SQLITE_TRANSIENT (a C macro Swift does not import): SQLite copies the value at once.
let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
