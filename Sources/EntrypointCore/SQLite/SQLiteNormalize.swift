// Bringing a local database to a complete state before anything is compared or replaced.
import CSQLite
import Glibc

/// What normalization found: a database whose main file alone is complete, or a file that is not a
/// usable SQLite database (docs/design.md, "Normalizing the local database").
enum LocalDatabase: Equatable {
    case complete
    /// Not a usable SQLite database: no SQLite header, or SQLite reports it damaged or not a
    /// database when it reads the schema. `reason` says which, for the log line.
    case unusable(reason: String)
}

extension SQLite {
    /// The first 8 bytes of a rollback journal that holds a transaction (SQLite's `aJournalMagic`).
    static let journalMagic: [UInt8] = [0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7]

    /// Whether `<path>-journal` may be hot by its content: it exists, is not empty and starts with
    /// the journal magic. SQLite's full rule adds "and no other process holds a RESERVED or PENDING
    /// lock on the database"; `normalize` leaves that part to SQLite itself (see there). A journal
    /// that fails this test is cold: what `journal_mode=PERSIST` (zeroed header) and `TRUNCATE`
    /// (0 bytes) leave after a clean close. SQLite ignores a cold journal.
    static func journalLooksHot(_ path: String) -> Bool {
        guard let file = try? FileDescriptor.open(path + "-journal", O_RDONLY) else { return false }
        var buffer = [UInt8](repeating: 0, count: 8)
        let n = buffer.withUnsafeMutableBytes { pread(file.raw, $0.baseAddress, 8, 0) }
        return n == 8 && buffer == journalMagic
    }

    /// The sidecars that may hold state the main file lacks: a `-wal`, a `-shm`, or a `-journal`
    /// that looks hot. A cold journal is not one of them.
    static func pendingSidecars(_ path: String) -> [String] {
        sidecars(path).filter { !$0.hasSuffix("-journal") || journalLooksHot(path) }
    }

    /// Brings the local database to a state where the main file alone holds every committed
    /// transaction: a WAL is checkpointed into it and removed, a hot journal is rolled back by
    /// SQLite itself (opening the database and reading its schema does that). A cold journal is
    /// left where it is (SQLite ignores it; the install moves it away with the other sidecars).
    /// A file that is not a usable SQLite database is left untouched and reported as such, with or
    /// without sidecars.
    /// - Throws: `.localIO` when another process is using the database (a busy checkpoint, a WAL or
    ///   a hot journal still there after SQLite opened it) or the database cannot be opened.
    static func normalize(_ path: String, log: Logger) throws(EntrypointError) -> LocalDatabase {
        guard hasHeader(path) else { return .unusable(reason: "no \"SQLite format 3\" header") }
        let pending = pendingSidecars(path)
        // Nothing to recover: read the schema without creating or changing any file.
        if pending.isEmpty { return unusableReason(path).map { .unusable(reason: $0) } ?? .complete }
        log.info("bringing \(path) to a complete state (found \(pending.map(FileIO.basename).joined(separator: ", ")))")
        do {
            let connection = try Connection(path, flags: SQLITE_OPEN_READWRITE)
            // Reading the schema rolls back a hot journal; a checkpoint moves WAL frames into the main file.
            if let problem = readSchema(connection) {
                if case .unusable(let reason) = problem { return .unusable(reason: reason) }
                if case .failed(let message) = problem {
                    throw EntrypointError(
                        .localIO, "cannot read \(path) with SQLite: \(message) (is another process using it? the app already running on this volume?)")
                }
            }
            if FileIO.exists(path + "-wal") {
                let result = try connection.query("PRAGMA wal_checkpoint(TRUNCATE)")
                if result.first == "1" {
                    throw EntrypointError(.localIO, "cannot checkpoint \(path)-wal: the database is busy (is the app already running on this volume?)")
                }
            }
        }  // the last connection closes: SQLite deletes the -wal and -shm
        var still: [String] = []
        if FileIO.exists(path + "-wal") { still.append(path + "-wal") }
        // SQLite rolled back a hot journal when it read the schema, unless another process holds a
        // lock on the database: then the journal is that process's live transaction.
        if journalLooksHot(path) { still.append(path + "-journal") }
        if !still.isEmpty {
            throw EntrypointError(
                .localIO, "\(still.joined(separator: ", ")) still exists after SQLite opened and checkpointed \(path) (is another process using it?)")
        }
        try? FileIO.unlinkIfPresent(path + "-shm")
        return .complete
    }

    enum SchemaProblem {
        case unusable(String)
        case failed(String)
    }

    /// Reads the schema; a damaged or non-database file is `.unusable`, anything else (busy,
    /// locked, I/O, read-only) `.failed`.
    static func readSchema(_ connection: Connection) -> SchemaProblem? {
        var stmt: OpaquePointer?
        var rc = sqlite3_prepare_v2(connection.db, "SELECT count(*) FROM sqlite_master", -1, &stmt, nil)
        if rc == SQLITE_OK {
            repeat { rc = sqlite3_step(stmt) } while rc == SQLITE_ROW
            if rc == SQLITE_DONE { rc = SQLITE_OK }
        }
        let message = connection.errorMessage
        let finalized = sqlite3_finalize(stmt)
        if rc == SQLITE_OK && finalized != SQLITE_OK && stmt != nil { rc = finalized }
        if rc == SQLITE_OK { return nil }
        let primary = rc & 0xFF
        if primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB { return .unusable("SQLite: \(message)") }
        return .failed(message)
    }

    /// Opens `uri` and reads the schema; returns why the file is not a usable database, or nil.
    /// An open or read that fails for another reason (I/O, permissions) is not reported here: the
    /// restore's own reads report it.
    static func schemaProblem(_ uri: String, flags: Int32) -> String? {
        guard let connection = try? Connection(uri, flags: flags) else { return nil }
        if case .unusable(let reason) = readSchema(connection) { return reason }
        return nil
    }

    /// Whether the database file (as it is, sidecars ignored) is a usable SQLite database; nil when it is.
    static func unusableReason(_ path: String) -> String? {
        guard hasHeader(path) else { return "no \"SQLite format 3\" header" }
        return schemaProblem("file:" + uriEscape(path) + "?mode=ro&immutable=1", flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI)
    }
}
