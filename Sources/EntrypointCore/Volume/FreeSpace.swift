// "Is there room for a snapshot?" The snapshot is a full copy beside the database; taken on a
// volume without room for it, it fills the volume for as long as it exists and the app's own
// commits fail with "database or disk is full". So a backup first checks that the volume keeps
// ENTRYPOINT_BACKUP_RESERVE_MB free after the copy, and skips (exit 74, one line) when it would not.
import Glibc

enum FreeSpace {
    /// The decision, pure: the bytes missing for a snapshot of `database` bytes (the main file plus
    /// its -wal, an upper bound of the copy) that must leave `reserve` bytes free; 0 when it fits.
    static func shortfall(free: UInt64, database: UInt64, reserve: UInt64) -> UInt64 {
        let needed = database &+ reserve
        return needed > free ? needed - free : 0
    }

    /// The bytes an unprivileged writer can still use on the volume of `db`, or nil when unknown.
    static func available(_ db: String) -> UInt64? {
        var st = statvfs()
        guard statvfs(FileIO.dirname(db), &st) == 0 else { return nil }
        return UInt64(st.f_bavail) * UInt64(st.f_frsize)
    }

    /// Throws the one line (exit 74) when a snapshot of `db` would not leave `reserve` bytes free on its
    /// volume. Unknown free space (statvfs failed) is not a reason to skip: the snapshot's own write
    /// errors still stop it.
    static func check(_ db: String, reserve: UInt64) throws(EntrypointError) {
        guard let free = available(db) else { return }
        let size = UInt64(max(0, FileIO.statIfPresent(db)?.st_size ?? 0)) + UInt64(max(0, FileIO.statIfPresent(db + "-wal")?.st_size ?? 0))
        guard shortfall(free: free, database: size, reserve: reserve) > 0 else { return }
        throw EntrypointError(
            .localIO,
            "backup skipped: the volume of \(db) has \(Progress.bytes(free)) free, but a snapshot needs room for the database (\(Progress.bytes(size))) and must leave \(Progress.bytes(reserve)) for the app's own writes (ENTRYPOINT_BACKUP_RESERVE_MB); nothing was uploaded, the app's commits keep their space. Free some space or enlarge the volume (docs/operations.md)"
        )
    }
}
