// The real libsqlite3: a connection, the header check, the sidecar files.
import CSQLite
import Glibc

public enum SQLite {
    /// "SQLite format 3\0"
    static let header: [UInt8] = Array("SQLite format 3".utf8) + [0]
    static let sidecarSuffixes = ["-wal", "-shm", "-journal"]

    /// Whether the file starts with the 16-byte SQLite header.
    static func hasHeader(_ path: String) -> Bool {
        guard let file = try? FileDescriptor.open(path, O_RDONLY) else { return false }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { read(file.raw, $0.baseAddress, 16) }
        return n == 16 && buffer == header
    }

    /// The sidecar files of `path` that exist now.
    static func sidecars(_ path: String) -> [String] {
        sidecarSuffixes.map { path + $0 }.filter { FileIO.exists($0) }
    }

    final class Connection {
        let db: OpaquePointer
        let path: String

        /// Opens a connection; closes the handle even when the open fails (SQLite requires it).
        init(_ path: String, flags: Int32) throws(EntrypointError) {
            var handle: OpaquePointer?
            let rc = sqlite3_open_v2(path, &handle, flags, nil)
            guard rc == SQLITE_OK, let handle else {
                let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(rc))
                sqlite3_close_v2(handle)
                throw EntrypointError(.localIO, "cannot open \(path) with SQLite: \(message)")
            }
            db = handle
            self.path = path
            sqlite3_busy_timeout(db, 5000)
            sqlite3_extended_result_codes(db, 1)
        }

        /// Takes over a handle opened elsewhere (a VFS of this program's own); closed with it.
        init(adopting handle: OpaquePointer, path: String) {
            db = handle
            self.path = path
            sqlite3_extended_result_codes(db, 1)
        }

        deinit { sqlite3_close_v2(db) }

        var errorMessage: String { String(cString: sqlite3_errmsg(db)) }

        /// Runs a statement and returns the first column of every row as text.
        func query(_ sql: String) throws(EntrypointError) -> [String] {
            var stmt: OpaquePointer?
            guard sqlite3_prepare_v2(db, sql, -1, &stmt, nil) == SQLITE_OK else {
                sqlite3_finalize(stmt)
                throw EntrypointError(.localIO, "\(path): \(sql): \(errorMessage)")
            }
            defer { sqlite3_finalize(stmt) }
            var rows: [String] = []
            while true {
                let rc = sqlite3_step(stmt)
                if rc == SQLITE_ROW {
                    rows.append(sqlite3_column_text(stmt, 0).map { String(cString: $0) } ?? "")
                } else if rc == SQLITE_DONE {
                    return rows
                } else {
                    throw EntrypointError(.localIO, "\(path): \(sql): \(errorMessage)")
                }
            }
        }
    }
}
