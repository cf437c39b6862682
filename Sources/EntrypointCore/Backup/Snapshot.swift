// A consistent snapshot of the live database (the file's bytes in checked steps, or SQLite's online
// backup API for WAL), without holding the app's writers off for longer than one short step (see
// docs/design.md, "The backup", step 3).
import CSQLite
import CShims
import Glibc

extension SQLite {
    /// How a snapshot was taken: for the log line and the tests.
    struct SnapshotReport: Equatable, Sendable {
        enum Method: Equatable, Sendable {
            /// WAL database: every page copied inside one read transaction (a WAL reader never
            /// blocks the app's writers, and nothing can restart the copy).
            case walReadTransaction
            /// Rollback journal: bounded steps, the read lock released between them.
            case steps
            /// Rollback journal written throughout the steps: the file copied under one read lock.
            case lockedCopy
        }
        var method: Method
        /// How often SQLite started the stepped copy over because another connection wrote.
        var restarts = 0
        /// The longest single hold of the source's read lock, in seconds (the WAL read transaction
        /// included, although it blocks nobody).
        var longestLock = 0.0
    }

    /// The numbers behind the snapshot (docs/design.md, "The backup", step 3).
    enum SnapshotTuning {
        /// Bytes copied per step: 1 MiB (256 pages of 4 KiB) holds the read lock for about 1 ms here, so an
        /// app's commit waits at most that long (plus its own busy-handler sleep) for one step.
        /// Steps follow each other without a pause: a writer that wants to commit while a step holds
        /// the read lock takes SQLite's PENDING lock, which refuses every new read lock, so the next
        /// step waits (polling, `busyPause`) until that commit is done. A pause would only cost time:
        /// 2 ms per MiB was 2 s per GiB.
        static let stepBytes = 1 << 20
        /// The poll interval while the source is locked by a writer.
        static let busyPause = 0.001
        /// A wait for the source's lock longer than this is logged once (the app holds it).
        static let announceWait = 2.0
        /// A rollback-journal copy that restarts more often than this (the app kept
        /// committing) gives up stepping and copies the file under one read lock instead.
        static let maxRestarts = 3
        /// Chunk of the locked copy: the stop signal is checked between two chunks.
        static let copyChunk = 1 << 20
        /// The page cache of a streamed snapshot's destination (StreamedSnapshot.swift), in bytes.
        static let destinationCache = 256 << 10
    }

    /// Copies the live database `source` into `destination` (an existing, empty, private file) as one
    /// consistent state.
    ///
    /// - WAL: one read transaction for the whole copy, stepped so a stop signal is seen promptly.
    /// - Rollback journal: the file's bytes in steps of `SnapshotTuning.stepBytes`, each under the
    ///   read lock, released between steps (`SnapshotRun.steps`). A commit by the app between two
    ///   steps starts the copy over; at the restart after `maxRestarts` the file is instead copied with
    ///   plain reads and made consistent under one read lock (`lockedCopy`: the app's commits wait
    ///   for one pass that reads the file twice, 20-150 ms per 64 MiB here).
    ///
    /// A busy or locked source is retried every millisecond until `deadline` (monotonic, `Clock.now`;
    /// `deadlineName` is how the line names it: the run's `Deadline.description`),
    /// and one wait for the lock lasts at most `lockTimeout` seconds (ENTRYPOINT_LOCK_TIMEOUT: an app
    /// that holds the database with `PRAGMA locking_mode=EXCLUSIVE` never lets a reader in; the
    /// backup then fails with one line and, under the supervisor, is tried again at the next interval).
    /// A wait longer than `SnapshotTuning.announceWait` is logged once.
    /// `stop` is the pending stop signal (0 for none); it is checked before every step and chunk.
    @discardableResult
    static func snapshot(
        _ source: String, to destination: String, deadline: Double = .infinity, deadlineName: String = "the backup deadline (ENTRYPOINT_DEADLINE)",
        lockTimeout: Double = .infinity, log: Logger? = nil, stop: @escaping () -> Int32 = { Signals.pending }
    ) throws(EntrypointError) -> SnapshotReport {
        let from = try SnapshotRun.openSource(source)
        defer { withExtendedLifetime(from) {} }
        let run = SnapshotRun(
            from: from, source: source, destination: destination, deadline: deadline, deadlineName: deadlineName,
            lockTimeout: lockTimeout, log: log, stop: stop)
        var restarts = 0
        // The journal mode is read inside a read transaction, where it cannot change. An app that
        // switches between WAL and a rollback journal during the snapshot sends it round again.
        for _ in 0..<3 {
            let mode = try run.beginRead()
            if mode.wal {
                var report = try run.walCopy(pageSize: mode.pageSize)
                report.restarts += restarts
                log?.debug("snapshot of \(source): one WAL read transaction, \(Int(report.longestLock * 1000)) ms")
                return report
            }
            try run.endRead()
            guard var report = try run.steps() else { continue }
            report.restarts += restarts
            restarts = report.restarts
            if report.method == .steps {
                log?.debug("snapshot of \(source): \(report.restarts) restarts, longest read lock \(Int(report.longestLock * 1000)) ms")
                return report
            }
            guard let held = try run.lockedCopy() else { continue }
            report.longestLock = max(report.longestLock, held)
            log?.info(
                "snapshot: the app kept writing to \(source) (the stepped copy restarted \(report.restarts) times); copied it under one read lock instead, which held the app's writes for \(Int(held * 1000)) ms"
            )
            return report
        }
        throw EntrypointError(.localIO, "the snapshot of \(source) failed: its journal mode kept changing between WAL and a rollback journal")
    }
}

/// One snapshot: the source connection, the paths, the limits.
struct SnapshotRun {
    let from: SQLite.Connection
    let source: String
    let destination: String
    let deadline: Double
    /// The deadline as the line names it (`Deadline.description`).
    var deadlineName = "the backup deadline (ENTRYPOINT_DEADLINE)"
    var lockTimeout: Double = .infinity
    var log: Logger? = nil
    let stop: () -> Int32

    /// The source connection of a snapshot (copied or streamed). No busy handler: a step that meets
    /// a writer's lock returns at once and the caller's loop retries, checking the stop signal and
    /// the deadline, and the measured step time is the time the lock was held.
    static func openSource(_ source: String) throws(EntrypointError) -> SQLite.Connection {
        let from = try SQLite.Connection(source, flags: SQLITE_OPEN_READWRITE)
        guard sqlite3_busy_timeout(from.db, 0) == SQLITE_OK else {
            throw EntrypointError(.localIO, "cannot set up the snapshot of \(source): \(from.errorMessage)")
        }
        return from
    }

    // MARK: waiting

    func checkStop() throws(EntrypointError) {
        let signal = stop()
        if signal != 0 { throw EntrypointError(signal: signal) }
    }

    func pause(_ seconds: Double) throws(EntrypointError) {
        var ts = timespec(tv_sec: 0, tv_nsec: Int(seconds * 1e9))
        // EINTR (a signal) ends the pause early; checkStop below sees the signal.
        if nanosleep(&ts, nil) != 0 && errno != EINTR {
            throw EntrypointError(.software, "nanosleep failed: \(errnoText(errno))")
        }
        try checkStop()
    }

    /// Runs `body` until it answers something other than BUSY or LOCKED, polling every millisecond.
    func untilUnlocked(_ what: String, _ body: () -> Int32) throws(EntrypointError) -> Int32 {
        var waitingSince: Double?
        var announced = false
        while true {
            try checkStop()
            let rc = body()
            let primary = rc & 0xFF
            guard primary == SQLITE_BUSY || primary == SQLITE_LOCKED else { return rc }
            let now = Clock.now()
            let since = waitingSince ?? now
            waitingSince = since
            if now >= deadline {
                throw EntrypointError(
                    .localIO,
                    "the snapshot of \(source) gave up \(what): another process kept it locked until \(deadlineName): \(String(cString: sqlite3_errstr(rc))); nothing was uploaded",
                    cause: .deadline)
            }
            if now - since >= lockTimeout {
                throw EntrypointError(
                    .localIO,
                    "the snapshot of \(source) gave up \(what): another connection kept the database locked for more than \(lockTimeout.clean)s (ENTRYPOINT_LOCK_TIMEOUT; an app with PRAGMA locking_mode=EXCLUSIVE never lets a backup read it): \(String(cString: sqlite3_errstr(rc))); nothing was uploaded"
                )
            }
            if !announced && now - since >= SQLite.SnapshotTuning.announceWait {
                announced = true
                log?.info(
                    "snapshot: \(source) is locked by another connection (a long write transaction, or an app with PRAGMA locking_mode=EXCLUSIVE); waiting up to \(min(lockTimeout, max(0, deadline - since)).clean)s (ENTRYPOINT_LOCK_TIMEOUT)"
                )
            }
            try pause(SQLite.SnapshotTuning.busyPause)
        }
    }

    // MARK: SQL on the source

    func exec(_ connection: SQLite.Connection, _ sql: String) -> Int32 {
        sqlite3_exec(connection.db, sql, nil, nil, nil)
    }

    /// The first column of the first row of `sql`, or the SQLite result code that stopped it.
    func scalar(_ connection: SQLite.Connection, _ sql: String) -> (rc: Int32, text: String) {
        var stmt: OpaquePointer?
        let prepared = sqlite3_prepare_v2(connection.db, sql, -1, &stmt, nil)
        defer { sqlite3_finalize(stmt) }
        guard prepared == SQLITE_OK else { return (prepared, "") }
        let rc = sqlite3_step(stmt)
        guard rc == SQLITE_ROW else { return (rc, "") }
        return (SQLITE_OK, sqlite3_column_text(stmt, 0).map { String(cString: $0) } ?? "")
    }

    /// A failed step on the source or the destination. An I/O error names what the file system
    /// said (SQLite's own message is a bare "disk I/O error"): a full volume, for one, leaves no
    /// room for the -shm a WAL database needs when its app is not running.
    func failure(_ what: String, _ rc: Int32, _ connection: SQLite.Connection) -> EntrypointError {
        let primary = rc & 0xff
        let os = primary == SQLITE_IOERR || primary == SQLITE_CANTOPEN ? sqlite3_system_errno(connection.db) : 0
        let cause = os != 0 ? "; \(errnoText(os))\(volumeHint(os))" : ""
        return EntrypointError(
            .localIO, "the snapshot of \(source) failed \(what): \(String(cString: sqlite3_errstr(rc))) (\(connection.errorMessage))\(cause)")
    }

    /// A failed backup step: SQLite reports it on the destination connection (sqlite3_backup_step(3)).
    /// A full or failing volume is the snapshot's write, never the source database's fault.
    func copyFailure(_ rc: Int32, _ to: SQLite.Connection) -> EntrypointError {
        let primary = rc & 0xff
        guard primary == SQLITE_FULL || primary == SQLITE_IOERR else { return failure("copying", rc, to) }
        let hint = primary == SQLITE_FULL ? " (the volume is full)" : ""
        return EntrypointError(
            .localIO,
            "cannot write the snapshot \(destination): \(String(cString: sqlite3_errstr(rc)))\(hint); \(source) itself is intact; nothing was uploaded")
    }

    /// Starts a read transaction on the source (taking SQLite's shared lock, or a WAL read mark) and
    /// reads the journal mode and the page size inside it.
    func beginRead() throws(EntrypointError) -> (wal: Bool, pageSize: Int) {
        let begin = exec(from, "BEGIN")
        guard begin == SQLITE_OK else { throw failure("starting a read transaction", begin, from) }
        var ok = false
        defer { if !ok { bestEffort("an error path: the error being thrown is the one to report", rollback()) } }
        // Checked before every attempt at the lock: a connection whose file was renamed over (the
        // app replacing its database) or deleted must not take it. SQLite would look for a hot
        // journal at the path, find the new file's live journal (its writer's RESERVED lock is on
        // the other file), play it back into the old file (the copy then mixes both files) and
        // delete it (the new file's writer is left without a journal on disk, so a crash of it
        // damages the new database): SQLite's "how to corrupt", renaming a database in use.
        var moved = false
        let read = try untilUnlocked("taking a read lock") { () -> Int32 in
            var flag: Int32 = 0
            if sqlite3_file_control(from.db, "main", SQLITE_FCNTL_HAS_MOVED, &flag) == SQLITE_OK && flag != 0 {
                moved = true
                return SQLITE_OK
            }
            return scalar(from, "SELECT count(*) FROM sqlite_schema").rc
        }
        if moved {
            throw EntrypointError(
                .localIO,
                "the snapshot of \(source) stopped: the file was replaced (renamed over) or deleted while the snapshot had it open; nothing was uploaded")
        }
        guard read == SQLITE_OK else { throw failure("reading the schema", read, from) }
        let mode = scalar(from, "PRAGMA journal_mode")
        guard mode.rc == SQLITE_OK else { throw failure("reading the journal mode", mode.rc, from) }
        let size = scalar(from, "PRAGMA page_size")
        guard size.rc == SQLITE_OK, let pageSize = Int(size.text), pageSize > 0 else { throw failure("reading the page size", size.rc, from) }
        ok = true
        return (mode.text.lowercased() == "wal", pageSize)
    }

    func endRead() throws(EntrypointError) {
        let rc = exec(from, "COMMIT")
        guard rc == SQLITE_OK else { throw failure("ending the read transaction", rc, from) }
    }

    /// Ends the read transaction on an error path; the result only tells whether it was still open.
    func rollback() -> Int32 { exec(from, "ROLLBACK") }

    // MARK: the destination

    /// The destination is a private temporary file that is never installed: no rollback journal and
    /// no fsync (it is read back through the page cache for the check, the hash and the upload, and
    /// a crash discards it). Its write lock is SQLite's, held until the backup finishes.
    func openDestination() throws(EntrypointError) -> SQLite.Connection {
        let to = try SQLite.Connection(destination, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let journal = scalar(to, "PRAGMA journal_mode=OFF")
        guard journal.rc == SQLITE_OK, journal.text.lowercased() == "off" else {
            throw failure("setting journal_mode=OFF on \(destination)", journal.rc, to)
        }
        let sync = exec(to, "PRAGMA synchronous=OFF")
        guard sync == SQLITE_OK else { throw failure("setting synchronous=OFF on \(destination)", sync, to) }
        return to
    }

    func pages(_ pageSize: Int) -> Int32 { Int32(max(1, SQLite.SnapshotTuning.stepBytes / pageSize)) }

    // MARK: the WAL way (the two rollback-journal ways: SnapshotByteCopy.swift)

    /// WAL: the read transaction from `beginRead` is still open; every step reads that one snapshot.
    func walCopy(pageSize: Int) throws(EntrypointError) -> SQLite.SnapshotReport {
        var inTransaction = true
        defer { if inTransaction { bestEffort("an error path: the error being thrown is the one to report", rollback()) } }
        let started = Clock.now()
        let to = try openDestination()
        defer { withExtendedLifetime(to) {} }
        guard let backup = sqlite3_backup_init(to.db, "main", from.db, "main") else {
            throw failure("starting the backup into \(destination)", sqlite3_errcode(to.db), to)
        }
        var report = SQLite.SnapshotReport(method: .walReadTransaction)
        let step = pages(pageSize)
        var copiedBefore: Int32 = 0
        var rc: Int32 = SQLITE_OK
        do throws(EntrypointError) {
            while true {
                rc = try untilUnlocked("copying a step") { sqlite3_backup_step(backup, step) }
                if rc != SQLITE_OK { break }
                let copied = sqlite3_backup_pagecount(backup) - sqlite3_backup_remaining(backup)
                if copied <= copiedBefore { report.restarts += 1 }
                copiedBefore = copied
            }
        } catch {
            bestEffort("an error path: the error being thrown is the one to report", sqlite3_backup_finish(backup))
            throw error
        }
        let finish = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else { throw copyFailure(rc, to) }
        guard finish == SQLITE_OK else { throw copyFailure(finish, to) }
        inTransaction = false
        try endRead()
        report.longestLock = Clock.now() - started
        return report
    }
}
