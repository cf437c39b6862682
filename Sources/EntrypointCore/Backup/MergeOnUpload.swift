// `--backup --merge`: Dropbox's file moved on since the state this volume last shared (its base).
// Instead of refusing (76), Dropbox's rev is downloaded and verified, and its changes since the base
// are merged into the live database in one SQLite write transaction (the app's writes wait for it;
// a kill leaves the database as it was). The set-aside changes are written to the conflicts database
// inside that transaction, before the commit. Then Dropbox's rev is the shared state (record, base)
// and the backup runs again: a new snapshot uploaded with update mode on that rev.
extension BackupMode {
    /// Returns false (nothing changed) when there is no proved base or the merge is refused (the line
    /// says why); the caller then does what it did without a merge.
    func mergeIntoLive(_ remote: RemoteFile, record: StateRecord, client: DropboxClient, restorer: Restorer) throws(EntrypointError) -> Bool {
        let db = config.localPath
        guard let base = BaseCopy.proven(for: db, record: record) else { return false }
        log.info("Dropbox's \(config.remotePath) moved on since rev \(record.rev) (now rev \(remote.rev)): merging its changes into \(db)")
        let download = try restorer.downloadVerified(remote, client: client)
        let labels = MergeLabels(ours: "the local database \(db)", base: "(\(base))", theirs: "Dropbox's rev \(remote.rev)")
        let report: MergeReport
        do throws(EntrypointError) {
            (report, _) = try Merger(output: db, base: base, theirs: download.path, labels: labels).run { report, tables throws(EntrypointError) in
                if !report.conflicts.isEmpty {
                    report.conflictsPath = try ConflictStore.write(report.conflicts, tables: tables, beside: db, labels: labels)
                }
            }
        } catch where error.code == .mergeRefused {
            log.warning("\(error.message)")
            return false
        }
        for line in report.lines() {
            if line.hasPrefix("merge: CONFLICT") || line.hasPrefix("merge: RE-KEYED") { log.warning(line) } else { log.info(line) }
        }
        try StateRecord(contentHash: remote.contentHash, rev: remote.rev, size: remote.size, event: "merged", time: Clock.utcStamp(), dataHash: download.dataHash).save(db)
        BaseCopy.keep(download.path, for: db, log: log)
        return true
    }
}
