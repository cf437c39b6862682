import CSQLite
// The three-way merge (docs/design.md, "The merge"): OURS is a private copy of the local database,
// merged in place; BASE is the state both sides last shared; THEIRS is Dropbox's file. In one
// transaction: check the schemas, re-key OURS' colliding rows, apply THEIRS' changes since BASE
// (sqlite3session_diff, sqlite3changeset_apply, MergeRules for each conflict), repair, check.
import CShims

struct Merger {
    /// The copy of OURS to merge into (never the live database).
    let output: String
    let base: String
    let theirs: String
    let labels: MergeLabels
    /// Set for a merge into the live database: the most seconds it waits for, and then holds, the
    /// app's write lock (ENTRYPOINT_LOCK_TIMEOUT; Merge/LockBound.swift). Nil: SQLite's 5 s wait, no bound.
    var lockTimeout: Double? = nil

    /// Merges; with `commit: false` everything is rolled back (a dry run for --check). `beforeCommit`
    /// runs inside the transaction, after every check (the conflicts database is written there when
    /// the output is the live database: never a committed merge without its set-aside changes).
    func run(
        commit: Bool = true, beforeCommit: (inout MergeReport, [MergeTable]) throws(EntrypointError) -> Void = { _, _ throws(EntrypointError) in }
    ) throws(EntrypointError) -> (MergeReport, [MergeTable]) {
        let db = try SQLite.Connection(output, flags: SQLITE_OPEN_READWRITE)
        try db.exec("PRAGMA foreign_keys=OFF")
        var triggers: Int32 = 0
        guard ep_sqlite_enable_triggers(UnsafeMutableRawPointer(db.db), 0, &triggers) == SQLITE_OK, triggers == 0 else {
            throw EntrypointError(.software, "cannot turn triggers off for the merge on \(output)")
        }
        let twice = sameFile(base, theirs)
        try attach(db, base, as: MergeSchemas.base, label: labels.base, readOnly: twice)
        try attach(db, theirs, as: MergeSchemas.theirs, label: labels.theirs, readOnly: twice)
        let bound = lockTimeout.map { LockBound(seconds: $0) }
        if let lockTimeout { sqlite3_busy_timeout(db.db, Int32(min(lockTimeout * 1000, Double(Int32.max)))) }
        do throws(EntrypointError) { try db.exec("BEGIN IMMEDIATE") } catch {
            if let bound, bound.busy(db) { throw bound.locked(output) }
            throw error
        }
        bound?.start(db)
        do throws(EntrypointError) {
            var (report, tables) = try merge(db)
            if commit { try beforeCommit(&report, tables) }
            bound?.stop(db)
            try db.exec(commit ? "COMMIT" : "ROLLBACK")
            return (report, tables)
        } catch {
            let busy = bound?.busy(db) ?? false  // before the ROLLBACK sets another result
            bound?.stop(db)
            bestEffort("an open transaction is rolled back when the connection closes anyway", sqlite3_exec(db.db, "ROLLBACK", nil, nil, nil))
            if let bound, bound.exceeded { throw bound.error(output) }
            if let bound, busy { throw bound.locked(output) }
            throw error
        }
    }

    /// `readOnly`: THEIRS is BASE's file (given twice, or a link to it). Attached twice with one of
    /// them read-write, BEGIN IMMEDIATE takes a write lock on the file through that one and the
    /// other's read lock makes the BEGIN or the COMMIT fail ("database is locked"); read-only
    /// (both), neither takes a write lock.
    func attach(_ db: SQLite.Connection, _ path: String, as name: String, label: String, readOnly: Bool = false) throws(EntrypointError) {
        guard SQLite.hasHeader(path) else {
            throw EntrypointError(
                .mergeRefused, "\(label) is not a SQLite database (no \"SQLite format 3\" header); the merge was refused, nothing was changed")
        }
        try db.rows("ATTACH ?1 AS \(name)", [.text(readOnly ? SQLite.fileURI(path) + "?mode=ro" : path)])
    }

    /// Whether two paths name the same file (device and inode).
    func sameFile(_ a: String, _ b: String) -> Bool {
        guard let x = FileIO.statIfPresent(a), let y = FileIO.statIfPresent(b) else { return false }
        return x.st_dev == y.st_dev && x.st_ino == y.st_ino
    }

    func merge(_ db: SQLite.Connection) throws(EntrypointError) -> (MergeReport, [MergeTable]) {
        let schema = MergeSchema(connection: db, labels: labels)
        let tables = try schema.tables()
        for (name, label) in [(MergeSchemas.ours, labels.ours), (MergeSchemas.theirs, labels.theirs)] {
            if let bad = try db.rows("PRAGMA \(name).foreign_key_check").first {
                throw EntrypointError(
                    .mergeRefused,
                    "\(label) already fails PRAGMA foreign_key_check (\(bad[0]) row \(bad[1]) references \(bad[2]) that does not exist); the merge was refused, nothing was changed"
                )
            }
        }
        var report = MergeReport()
        report.rekeys = try Rekeyer(connection: db, tables: tables).run()
        let sessionTables = tables.filter(\.rowByRow).map(\.name)
        let changes = try Session.diff(db, from: MergeSchemas.base, to: MergeSchemas.theirs, tables: sessionTables)
        report.theirs = try changes.counts()
        let handler = ConflictHandler(tables: tables)
        try Session.apply(db, changes, handler: handler)
        let repair = MergeRepair(connection: db, tables: tables, labels: labels)
        try repair.replace(handler)
        try repair.restore(handler)
        report.wholeTables = try repair.wholeTables(schema)
        try repair.sequences()
        try repair.foreignKeys(handler)
        report.conflicts = handler.records
        let integrity = try db.query("PRAGMA main.integrity_check")
        guard integrity == ["ok"] else {
            throw EntrypointError(
                .mergeRefused,
                "the merged database fails PRAGMA integrity_check (\(integrity.first ?? "no result")); the merge was refused, nothing was changed")
        }
        return (report, tables)
    }
}
