// --check when the start would merge: what the merge would do (THEIRS' changes per table, re-keys,
// conflicts, or the refusal), from Dropbox's rev downloaded to a temporary file and a snapshot of the
// local database, merged and rolled back (the base downloaded by rev too when the volume has none).
// Nothing on the volume changes; the temporaries go.
import CSQLite

extension CheckMode {
    func previewMerge(_ remote: RemoteFile, base source: BaseSource, scope: RunScope, client: DropboxClient) throws(EntrypointError) {
        let db = config.localPath
        // The restore's own download (Restore/Install.swift, steps 1-7), as a merge at start makes it.
        let fetch = RevisionFetch(scope: scope)
        let download = try fetch.downloadVerified(remote, client: client)
        // A base that is not on the volume is downloaded by rev for the preview, as the start would,
        // into a temporary removed afterwards (Restore/BaseFetch.swift).
        if case .revision(let rev, _, _) = source {
            say("merge preview: downloading the base, Dropbox's rev \(rev), as the start would (a temporary, removed afterwards)")
        }
        let base: ObtainedBase
        do throws(EntrypointError) {
            base = try fetch.obtainBase(source, client: client)
        } catch  where error.signal == nil && BaseSource.fallsBack(error) {
            say(
                "merge preview: the base, \(source.name), cannot be had (\(error.message)); the start would install Dropbox's rev \(remote.rev) instead and keep the local database as a copy"
            )
            return
        }
        let temp = try FileIO.operation("create a temporary file in", FileIO.dirname(db)) { () throws(SystemError) in
            try FileIO.createTemporary(near: db, infix: MergeInstall.tempInfix, mode: 0o600)
        }
        let path = temp.path
        let descriptor = temp.descriptor
        descriptor.close()
        defer {
            for f in SQLite.sidecarSuffixes.map({ path + $0 }) + SQLite.sidecarSuffixes.map({ download.path + $0 }) { FileIO.removeBestEffort(f) }
        }
        try SQLite.snapshot(db, to: path)
        let labels = MergeLabels(ours: "the local database \(db)", base: source.label, theirs: "Dropbox's rev \(remote.rev)")
        do throws(EntrypointError) {
            let (report, _) = try Merger(output: path, base: base.path, theirs: download.path, labels: labels).run(commit: false)
            for line in report.lines() { say("merge preview: " + line) }
        } catch  where error.code == .mergeRefused {
            say("merge preview: \(error.message); the start would install Dropbox's rev \(remote.rev) instead and keep the local database as a copy")
        }
        withExtendedLifetime(temp.removal) {}
        withExtendedLifetime(base) {}
    }
}
