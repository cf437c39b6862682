// Merge at start (docs/design.md, "The merge at start"): both the local database and Dropbox's file
// changed since the state this volume last shared, and that state (the base) is kept here. Dropbox's
// rev is downloaded and verified as for a restore, its changes since the base are merged into the
// local database (MergeInstall: the pre-merge file kept as `<db>.local-<UTC>`), the record then
// describes Dropbox's rev (the new shared state) and the download becomes the new base. The running
// site is never rolled back. A refused (or failed) merge, or a base that cannot be had (the record's
// rev gone from Dropbox's history), falls back to the restore without a base, with the same
// download: Dropbox's file installed, the local database kept as a copy. Dropbox failing while the
// base downloads is the start's unavailable case (RunMode.restore), not a fallback.

extension Restorer {
    func mergeAtStart(_ remote: RemoteFile, base source: BaseSource, client: DropboxClient) throws(EntrypointError) -> RestoreOutcome {
        let fetch = RevisionFetch(scope: scope)
        let download = try fetch.downloadVerified(remote, client: client)
        let path = download.path
        // The base: the copy on the volume, or the record's rev downloaded now (Restore/BaseFetch.swift).
        // One that cannot be had (gone from Dropbox's history, another content) makes the merge
        // impossible, and so does a local failure (a full volume): the start goes on as without a
        // base. Dropbox unreachable or failing is thrown instead: the start's ENTRYPOINT_ON_UNAVAILABLE
        // policy applies (auto: start on the local database, not rolled back; the next start or
        // backup merges), as when get_metadata fails.
        let base: ObtainedBase
        do throws(EntrypointError) {
            base = try fetch.obtainBase(source, client: client)
        } catch  where error.signal == nil && BaseSource.fallsBack(error) {
            log.warning(
                "cannot merge: the base, \(source.name), cannot be had: \(error.message); installing Dropbox's rev \(remote.rev) instead and keeping the local database as a copy"
            )
            return .restored(keptCopy: try installVerified(download, remote: remote, keepLocal: true, reason: .bothChanged))
        }
        let labels = MergeLabels(ours: "the local database \(db)", base: source.label, theirs: "Dropbox's rev \(remote.rev)")
        var merge = MergeInstall(db: db, base: base.path, theirs: path, labels: labels, log: log)
        merge.crashPoint = { crashPoint($0) }
        merge.copyReason = RestoreDecision.copyReason(.bothChanged, remote: remote) + "; merged, not replaced"
        let report: MergeReport
        do throws(EntrypointError) {
            report = try merge.run()
        } catch  where error.signal == nil {
            // Refused, or failed for another reason (a file the merge could not write, a case it
            // does not handle): the start goes on as without a base, as every start would fail
            // again the same way (a restart loop with the app down). Nothing is lost either way.
            let why = error.code == .mergeRefused ? error.message : "the merge failed: \(error.message)"
            log.warning("\(why); installing Dropbox's rev \(remote.rev) instead and keeping the local database as a copy")
            return .restored(keptCopy: try installVerified(download, remote: remote, keepLocal: true, reason: .bothChanged))
        }
        withExtendedLifetime(base) {}  // a downloaded base goes now: the download becomes the base below
        report.log(to: log)
        // Dropbox's rev is now the state this volume shares with it: the record and the base say so
        // (a kill in between leaves a base whose data hash is not the record's: never used).
        try StateRecord.merged(remote, dataHash: download.dataHash).save(db)
        crashPoint("merge-after-record")
        BaseCopy.keep(path, for: db, log: log)
        pruneCopies()
        log.info("Merged Dropbox's rev \(remote.rev) into \(db); the next backup uploads the result")
        return .merged(keptCopy: report.keptCopy)
    }
}
