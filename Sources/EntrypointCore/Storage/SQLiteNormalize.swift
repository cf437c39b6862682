// Bringing a local database to a complete state before anything is compared or replaced.
import CSQLite
import Glibc


extension SQLite {

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
}
