// The read transaction a WAL database's streamed backup holds from its first pass to its commit
// (docs/design.md, "The streamed snapshot"): pass 1 hashes, quick_check checks, pass 2 streams
// into the upload, all three reading one state of the database while the app goes on committing
// (a WAL reader never blocks the writers; the WAL cannot be reset past it, so it grows by what the
// app writes meanwhile). A rollback-journal database gets no reader: it keeps its temporary copy
// (Snapshot.swift), because a read lock held across an upload would hold the app's commits.
import CSQLite
import Glibc

final class SnapshotReader {
    /// The source connection and its limits (Snapshot.swift), inside the read transaction.
    let run: SnapshotRun
    let pageSize: Int
    /// When its uploads stop before their commit to give way to the app (CheckpointWatch.swift).
    let giveWay: GiveWay
    private var open = true

    private init(run: SnapshotRun, pageSize: Int, reserve: UInt64) {
        self.run = run
        self.pageSize = pageSize
        giveWay = GiveWay(database: run.source, reserve: reserve)
    }

    deinit {
        if open { bestEffort("the backup is over: ending its read transaction cannot lose anything", run.rollback()) }
    }

    /// Opens `source` and begins its read transaction (waiting for a writer's lock as the snapshot
    /// does). Nil when the database is not in WAL mode: the read transaction is then ended.
    static func begin(
        _ source: String, deadline: Deadline, lockTimeout: Double, reserve: UInt64, log: Logger, stop: @escaping () -> Int32 = { Signals.pending }
    ) throws(EntrypointError) -> SnapshotReader? {
        let from = try SnapshotRun.openSource(source)
        // Pages not in the WAL are read through a memory map (page-cache pages, not the process's
        // own memory): pass 1, quick_check and pass 2 then copy each page once instead of twice.
        if let size = FileIO.statIfPresent(source).map({ Int64($0.st_size) }), size > 0 {
            _ = try from.query("PRAGMA mmap_size = \(size)")
        }
        let run = SnapshotRun(
            from: from, source: source, destination: "", deadline: deadline.instant, deadlineName: deadline.description, lockTimeout: lockTimeout,
            log: log, stop: stop)
        let mode = try run.beginRead()
        guard mode.wal else {
            try run.endRead()
            return nil
        }
        return SnapshotReader(run: run, pageSize: mode.pageSize, reserve: reserve)
    }

    /// Pass 1: the snapshot's size, hashes, block digests and page 1.
    func hashPass() throws(EntrypointError) -> SQLite.StreamedSnapshot {
        try SQLite.hashPass(run.from, pageSize: pageSize, stop: run.stop)
    }

    /// PRAGMA quick_check of the state being backed up (the read transaction's: the bytes both
    /// passes read), as the snapshot file's check is for a copied snapshot.
    func quickCheck() throws(EntrypointError) {
        try SQLite.quickCheck(
            run.from, what: "the snapshot of \(run.source)", code: .localIO, consequence: "the local database may be damaged, nothing was uploaded")
    }

    /// Pass 2 (and any later one: a side copy after a refused commit): page 1 first, then every
    /// other page in order, checked against pass 1 (StreamedSnapshot.swift).
    func stream(_ expected: SQLite.StreamedSnapshot, sink: @escaping (UnsafeRawBufferPointer) -> Bool) throws(EntrypointError) {
        try SQLite.streamPass(run.from, expected, stop: run.stop, sink: sink)
    }

    /// Ends the read transaction on an error path (a backup that gave way): nothing to keep.
    func abandon() {
        guard open else { return }
        open = false
        bestEffort("a backup that gave way: rolling back its read transaction cannot lose anything", run.rollback())
    }

    /// Ends the read transaction (the app's checkpoints can then reset the WAL).
    func end() throws(EntrypointError) {
        guard open else { return }
        open = false
        try run.endRead()
    }
}
