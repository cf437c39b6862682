// `--backup --merge` and `--backup --auto` (the supervisor's backups): Dropbox's file moved on since
// the state this volume last shared (its base). Instead of refusing (76) or a side copy, Dropbox's rev is downloaded and verified, and its changes since the base
// are merged into the live database in one SQLite write transaction (the app's writes wait for it;
// a kill leaves the database as it was). The set-aside changes are written to the conflicts database
// inside that transaction, before the commit. Then Dropbox's rev is the shared state (record, base)
// and the backup runs again: a new snapshot uploaded with update mode on that rev.
extension BackupRun {
    /// What a merge into the live database did: merged (the caller runs the backup again), or
    /// nothing changed because the merge was refused or failed (`reason` says why; the
    /// caller then does what it did without a merge: `--backup --merge` refuses, `--auto` keeps
    /// this volume's data in a side copy).
    enum LiveMerge: Equatable {
        case merged
        case notMerged(reason: String)
    }

    /// The app's writes wait for the merge's one transaction, at most ENTRYPOINT_LOCK_TIMEOUT (Merge/LockBound.swift).
    /// `source` is where the base of `record` comes from (BaseSource.choose, the caller's decision):
    /// the proven copy on the volume, or the record's rev, downloaded here (Restore/BaseFetch.swift).
    /// A rev Dropbox no longer has makes the merge impossible: `.notMerged`, naming the rev and why.
    func mergeIntoLive(_ remote: RemoteFile, record: StateRecord, base source: BaseSource, client: DropboxClient) throws(EntrypointError) -> LiveMerge {
        let db = config.localPath
        log.info("Dropbox's \(config.remotePath) moved on since rev \(record.rev) (now rev \(remote.rev)): merging its changes into \(db)")
        let fetch = RevisionFetch(scope: scope)
        let download = try fetch.downloadVerified(remote, client: client)  // the restore's steps 1-7
        let base: ObtainedBase
        do throws(EntrypointError) {
            base = try fetch.obtainBase(source, client: client)
        } catch  where BaseSource.cannotBeHad(error) {
            return .notMerged(reason: "the base, \(source.name), cannot be had: \(error.message)")
        }
        let labels = MergeLabels(ours: "the local database \(db)", base: source.label, theirs: "Dropbox's rev \(remote.rev)")
        let report: MergeReport
        do throws(EntrypointError) {
            var merger = Merger(output: db, base: base.path, theirs: download.path, labels: labels)
            merger.lockTimeout = config.lockTimeout  // the app's writes never wait longer (Merge/LockBound.swift)
            (report, _) = try merger.run { report, tables throws(EntrypointError) in
                if !report.conflicts.isEmpty {
                    report.conflictsPath = try ConflictStore.write(report.conflicts, tables: tables, beside: db, labels: labels)
                }
            }
        } catch  where error.code == .mergeRefused {
            return .notMerged(reason: error.message)
        }
        withExtendedLifetime(base) {}  // a downloaded base goes now: the download becomes the base below
        report.log(to: log)
        try StateRecord.merged(remote, dataHash: download.dataHash).save(db)
        BaseCopy.keep(download.path, for: db, log: log)
        return .merged
    }
}
