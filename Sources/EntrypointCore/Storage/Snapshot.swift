// A consistent snapshot of the live database with SQLite's online backup API.
import CSQLite
import CShims
import Glibc

extension SQLite {
    /// Copies the live database `source` into `destination` with sqlite3_backup, in one step, so the
    /// copy is one consistent snapshot (a WAL-mode writer is not blocked meanwhile).
    static func snapshot(_ source: String, to destination: String) throws(EntrypointError) {
        let from = try Connection(source, flags: SQLITE_OPEN_READWRITE)
        let to = try Connection(destination, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        guard let backup = sqlite3_backup_init(to.db, "main", from.db, "main") else {
            throw EntrypointError(.localIO, "cannot start a backup of \(source): \(to.errorMessage)")
        }
        var rc: Int32
        repeat {
            rc = sqlite3_backup_step(backup, -1)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { _ = Clock.sleep(0.05) }
            if ep_signal_pending() != 0 { break }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        let finish = sqlite3_backup_finish(backup)
        if ep_signal_pending() != 0 { throw EntrypointError(signal: ep_signal_pending()) }
        guard rc == SQLITE_DONE, finish == SQLITE_OK else {
            throw EntrypointError(.localIO, "backup of \(source) failed: \(String(cString: sqlite3_errstr(rc == SQLITE_DONE ? finish : rc)))")
        }
    }
}
