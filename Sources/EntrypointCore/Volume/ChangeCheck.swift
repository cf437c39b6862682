// "May the database have changed?", decided from SQLite's own evidence, never from file timestamps
// and never by reading the data: `PRAGMA data_version` on a connection the supervisor keeps open
// (docs/design.md, "The supervisor", "May have changed").
import CSQLite
import Glibc

/// The database file's identity and SQLite's data version as seen by the kept connection. SQLite
/// guarantees that two `PRAGMA data_version` results of one connection differ when any other
/// connection committed in between; `generation` counts the connections, so values of two different
/// connections never compare equal; device and inode catch a file replaced under the connection.
struct Fingerprint: Equatable {
    let device: UInt64
    let inode: UInt64
    let generation: Int
    let dataVersion: Int64
}

/// The supervisor's read-only use of the database. The connection is opened without SQLITE_OPEN_CREATE
/// (a missing database stays missing) and with no busy handler (a locked database answers at once:
/// "unknown", which counts as changed, so the supervisor's loop never waits on the app's locks). It
/// never writes; closed last (at exit), it checkpoints and removes the WAL, as the app's last
/// connection would have.
final class ChangeCheck {
    let path: String
    private var connection: SQLite.Connection?
    private var opened: (device: UInt64, inode: UInt64)?
    private var generation = 0

    init(_ path: String) { self.path = path }

    /// The evidence now, or nil when it is unknown (no database, locked, not a database): the caller
    /// then treats the database as changed and lets the backup decide from the data.
    func take() -> Fingerprint? {
        guard let st = FileIO.statIfPresent(path) else {
            close()
            return nil
        }
        let id = (device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        if connection == nil || opened?.device != id.device || opened?.inode != id.inode {
            close()
            guard let c = try? SQLite.Connection(path, flags: SQLITE_OPEN_READWRITE), sqlite3_busy_timeout(c.db, 0) == SQLITE_OK else { return nil }
            connection = c
            opened = id
            generation += 1
        }
        guard let text = try? connection?.query("PRAGMA data_version").first, let version = Int64(text) else { return nil }
        // The file may have been replaced between the stat and the open: then the next take reopens.
        return Fingerprint(device: id.device, inode: id.inode, generation: generation, dataVersion: version)
    }

    func close() {
        connection = nil
        opened = nil
    }
}
