// A merge into the live database (the supervisor's `--backup --auto`, `--backup --merge`) holds the
// app's write lock from its BEGIN IMMEDIATE to its COMMIT: the app's own writes wait for it. That
// wait is bounded by ENTRYPOINT_LOCK_TIMEOUT: SQLite's progress handler interrupts a merge that has
// held the lock longer, the transaction is rolled back (nothing changed) and the merge counts as
// refused, with one line naming the setting. The busy timeout of the merge's connection is the same
// setting, so the merge itself never waits longer than that for the app's lock either: then the
// backup fails with one line naming the setting (exit 74) and the next one tries again.
import CSQLite

final class LockBound {
    let seconds: Double
    private(set) var until = Double.infinity
    private(set) var exceeded = false

    init(seconds: Double) { self.seconds = seconds }

    /// From now on, interrupt statements on `db` once `seconds` have passed.
    func start(_ db: SQLite.Connection) {
        until = Clock.now() + seconds
        sqlite3_progress_handler(
            db.db, 64,
            { context in
                guard let context else { return 0 }
                let bound = Unmanaged<LockBound>.fromOpaque(context).takeUnretainedValue()
                guard Clock.now() > bound.until else { return 0 }
                bound.exceeded = true
                return 1
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Before the COMMIT: the merge is done, the commit itself is never interrupted.
    func stop(_ db: SQLite.Connection) { sqlite3_progress_handler(db.db, 0, nil, nil) }

    /// Whether the last call on `db` failed because the app held the lock past the busy timeout.
    func busy(_ db: SQLite.Connection) -> Bool { sqlite3_errcode(db.db) & 0xff == SQLITE_BUSY }

    /// The app held its lock longer than the setting: no merge now (74; the next backup tries again).
    func locked(_ output: String) -> EntrypointError {
        EntrypointError(
            .localIO,
            "the app kept \(output) locked for more than \(seconds.clean)s (ENTRYPOINT_LOCK_TIMEOUT); the merge was not made, nothing was changed; the next backup tries again"
        )
    }

    func error(_ output: String) -> EntrypointError {
        EntrypointError(
            .mergeRefused,
            "the merge into \(output) would hold the app's write lock longer than ENTRYPOINT_LOCK_TIMEOUT (\(seconds.clean)s); it was rolled back, nothing was changed"
        )
    }
}
