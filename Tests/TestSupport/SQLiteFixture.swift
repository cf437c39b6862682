// SQLite fixtures made with the real library: the one builder of test databases for both test
// targets, `DB` (the scripts' Python counterpart is make_db in scripts/lib-fake-dropbox.sh). Their
// directory is a `TempDir` (TempDir.swift).
import CSQLite
import Foundation

public enum DB {
    /// Runs SQL against a database (created if needed); returns the first column of each row.
    /// `keepOpen` sees the connection before it closes (to hold a lock or leave a journal).
    @discardableResult
    public static func sql(_ path: String, _ statements: String, keepOpen: ((OpaquePointer) -> Void)? = nil) throws -> [String] {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw CocoaError(.fileReadUnknown) }
        defer { sqlite3_close(db) }
        var rows: [String] = []
        var stmt: OpaquePointer?
        var tail: UnsafePointer<CChar>?
        let text = strdup(statements)!
        defer { free(text) }
        var cursor: UnsafePointer<CChar>? = UnsafePointer(text)
        while let c = cursor, c.pointee != 0 {
            let rc = sqlite3_prepare_v2(db, c, -1, &stmt, &tail)
            guard rc == SQLITE_OK else {
                throw NSError(domain: "sqlite", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: String(cString: sqlite3_errmsg(db))])
            }
            guard stmt != nil else { break }  // only whitespace or comments left
            var step = sqlite3_step(stmt)
            while step == SQLITE_ROW {
                rows.append(sqlite3_column_text(stmt, 0).map { String(cString: $0) } ?? "")
                step = sqlite3_step(stmt)
            }
            // A statement that fails while it runs (a constraint, a busy or damaged database) is an
            // error too, not a silently shorter fixture.
            let failure = step == SQLITE_DONE ? nil : String(cString: sqlite3_errmsg(db))
            sqlite3_finalize(stmt)
            if let failure { throw NSError(domain: "sqlite", code: Int(step), userInfo: [NSLocalizedDescriptionKey: failure]) }
            cursor = tail
        }
        keepOpen?(db)
        return rows
    }

    /// A database with table `items(name)` holding `rows` names, padded to about `bytes`.
    public static func make(_ path: String, rows: [String], padding bytes: Int = 0) throws {
        try? FileManager.default.removeItem(atPath: path)
        var sql = "CREATE TABLE items(name TEXT); CREATE TABLE pad(b BLOB);"
        for row in rows { sql += "INSERT INTO items VALUES ('\(row)');" }
        if bytes > 0 {
            sql +=
                "INSERT INTO pad SELECT randomblob(4000) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < \(bytes / 4000)) SELECT i FROM c);"
        }
        try DB.sql(path, sql)
    }

    /// The names in `items`, in insertion order.
    public static func items(_ path: String) throws -> [String] {
        try sql(path, "SELECT name FROM items ORDER BY rowid")
    }

    /// PRAGMA integrity_check's answer ("ok" for a sound database), or "unreadable".
    public static func integrity(_ path: String) -> String {
        (try? sql(path, "PRAGMA integrity_check").joined(separator: ",")) ?? "unreadable"
    }
}
