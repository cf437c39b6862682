// The SQLite side of a restore, through the real libsqlite3: bring a local database to a complete
// state (checkpoint a WAL, roll back a hot journal), verify a downloaded file, take online backups.
import CSQLite
import Glibc

public enum SQLite {
    /// "SQLite format 3\0"
    static let header: [UInt8] = Array("SQLite format 3".utf8) + [0]
    static let sidecarSuffixes = ["-wal", "-shm", "-journal"]

    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Whether the file starts with the 16-byte SQLite header.
    static func hasHeader(_ path: String) -> Bool {
        guard let fd = try? FileIO.open(path, O_RDONLY) else { return false }
        defer { FileIO.close(fd) }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, 16) }
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

    /// Brings the local database to a state where the main file alone holds every committed
    /// transaction: a WAL is checkpointed into it and removed, a hot journal is rolled back.
    /// Returns false when the file is not a SQLite database (it is then left untouched).
    /// - Throws: `.localIO` when the database cannot be opened or checkpointed.
    static func normalize(_ path: String, log: Logger) throws(EntrypointError) -> Bool {
        let before = sidecars(path)
        guard hasHeader(path) else {
            if !before.isEmpty { log.warning("\(path) is not a SQLite database but has \(before.joined(separator: ", ")) beside it") }
            return false
        }
        if before.isEmpty { return true }
        log.info("bringing \(path) to a complete state (found \(before.map(FileIO.basename).joined(separator: ", ")))")
        do {
            let connection = try Connection(path, flags: SQLITE_OPEN_READWRITE)
            // Reading the schema rolls back a hot journal; a checkpoint moves WAL frames into the main file.
            _ = try connection.query("SELECT count(*) FROM sqlite_master")
            if FileIO.exists(path + "-wal") {
                let result = try connection.query("PRAGMA wal_checkpoint(TRUNCATE)")
                if result.first == "1" {
                    throw EntrypointError(.localIO, "cannot checkpoint \(path)-wal: the database is busy (is the app already running on this volume?)")
                }
            }
        }  // the last connection closes: SQLite deletes the -wal and -shm
        let after = sidecars(path).filter { !$0.hasSuffix("-shm") }
        if !after.isEmpty {
            throw EntrypointError(.localIO, "\(after.joined(separator: ", ")) still exists after checkpointing \(path) (is another process using it?)")
        }
        try? FileIO.unlinkIfPresent(path + "-shm")
        return true
    }

    /// Verifies a downloaded file before it may replace anything: the SQLite header, then
    /// `PRAGMA quick_check`, opened read-only and immutable (no sidecar files are created).
    static func verify(_ path: String, what: String) throws(EntrypointError) {
        guard hasHeader(path) else {
            throw EntrypointError(.badRemoteData, "\(what) is not a SQLite database (no \"SQLite format 3\" header); nothing was installed")
        }
        let uri = "file:" + uriEscape(path) + "?mode=ro&immutable=1"
        let result: [String]
        do throws(EntrypointError) {
            let connection = try Connection(uri, flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI)
            result = try connection.query("PRAGMA quick_check")
        } catch {
            throw EntrypointError(.badRemoteData, "\(what) failed PRAGMA quick_check: \(error.message); nothing was installed")
        }
        guard result == ["ok"] else {
            let first = result.first ?? "no result"
            throw EntrypointError(.badRemoteData, "\(what) failed PRAGMA quick_check: \(first)\(result.count > 1 ? " (+\(result.count - 1) more)" : ""); nothing was installed")
        }
    }

    /// A path for a `file:` URI: `?`, `#`, `%`, spaces, controls and non-ASCII bytes are escaped.
    static func uriEscape(_ path: String) -> String {
        percentEncode(path) { b in
            b > 0x20 && b < 0x7F && b != UInt8(ascii: "?") && b != UInt8(ascii: "#") && b != UInt8(ascii: "%")
        }
    }
}
