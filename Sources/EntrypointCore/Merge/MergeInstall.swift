// A merge of THEIRS (since BASE) into the local database `db`, installed in the order of a restore
// (Restore/Install.swift; docs/design.md, "The order of file operations"): a consistent snapshot of
// `db` beside it → merge in one transaction → checked → fsynced → the conflicts database written
// and renamed into place → `db` kept as `<db>.local-<UTC>` (a hard link) with its sidecars → the
// merged file renamed over `db` → the directory fsynced. A kill at any instant leaves `db` whole:
// the old file until the rename, the merged one after it; the temporary is removed by the next start.
import CSQLite
import Glibc

struct MergeInstall {
    let db: String
    let base: String
    let theirs: String
    let labels: MergeLabels
    let log: Logger
    /// Test hook: the restore's ENTRYPOINT_TEST_CRASH_AT (SIGKILL at a named point).
    var crashPoint: (String) -> Void = { _ in }
    /// Why the pre-merge database is kept as `<db>.local-<UTC time>` (the KEPT A COPY line).
    var copyReason = "merged, not replaced"

    var directory: String { FileIO.dirname(db) }
    static let tempInfix = ".entrypoint-merge-"

    /// Merges and installs; returns the report (its conflictsPath set when something was set aside).
    func run() throws(EntrypointError) -> MergeReport {
        let mode = FileIO.statIfPresent(db).map { $0.st_mode & 0o7777 } ?? 0o600
        var temp = try FileIO.operation("create a temporary file in", directory) { () throws(SystemError) in
            try FileIO.createTemporary(near: db, infix: MergeInstall.tempInfix, mode: mode)
        }
        let path = temp.path
        let descriptor = temp.descriptor
        descriptor.close()  // SQLite writes the snapshot through its own connection
        defer { for f in SQLite.sidecarSuffixes.map({ path + $0 }) { FileIO.removeBestEffort(f) } }
        try SQLite.snapshot(db, to: path, log: log)
        var (report, tables) = try Merger(output: path, base: base, theirs: theirs, labels: labels).run()
        try FileIO.operation("write", path) { () throws(SystemError) in
            let fd = try FileDescriptor.open(path, O_RDONLY)
            try FileIO.fsync(fd.raw)
        }
        try SQLite.verify(path, what: "the merged database", code: .localIO, consequence: "nothing was changed")
        crashPoint("merge-verified")
        if !report.conflicts.isEmpty {
            report.conflictsPath = try ConflictStore.write(report.conflicts, tables: tables, beside: db, labels: labels)
        }
        crashPoint("merge-conflicts-written")
        let copy = try keepLocalCopy()
        report.keptCopy = copy
        log.warning("KEPT A COPY of the local database: \(copyReason); the old database is now \(copy)")
        for sidecar in SQLite.sidecars(db) {
            try FileIO.operation("move", sidecar) { () throws(SystemError) in
                try FileIO.rename(sidecar, copy + String(sidecar.dropFirst(db.count)))
            }
        }
        crashPoint("merge-before-rename")
        try FileIO.operation("rename \(path) over", db) { () throws(SystemError) in try FileIO.rename(path, db) }
        temp.removal.keep()
        try FileIO.operation("sync the directory", directory) { () throws(SystemError) in try FileIO.fsyncDirectory(directory) }
        crashPoint("merge-after-rename")
        return report
    }

    /// `<db>.local-<UTC time>`: a hard link, or a full copy where the file system has none.
    func keepLocalCopy() throws(EntrypointError) -> String {
        let stamp = Clock.utcStamp(compact: true)
        var copy = db + ".local-" + stamp
        var n = 1
        while FileIO.exists(copy) {
            n += 1
            copy = db + ".local-" + stamp + "-\(n)"
        }
        let target = copy
        try FileIO.operation("keep a copy of the local database as", target) { () throws(SystemError) in
            do throws(SystemError) {
                try FileIO.link(db, target)
            } catch  where [EXDEV, EPERM, ENOTSUP, EMLINK].contains(error.errno) {
                try FileIO.copyFile(db, target, near: db, infix: MergeInstall.tempInfix + "copy-", mode: 0o600) {}
            }
            try FileIO.fsyncDirectory(directory)
        }
        return target
    }
}
