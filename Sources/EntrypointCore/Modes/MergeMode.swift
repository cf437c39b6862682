// --merge BASE THEIRS INTO: the file-level merge for the cases outside the automatic paths (local
// files; docs/operations.md). THEIRS plays Dropbox's part and INTO the local database's: on a
// conflict THEIRS' version stays, and only INTO's rows are ever re-keyed.
import Glibc

struct MergeMode {
    let base: String
    let theirs: String
    let into: String
    let log: Logger

    /// 0 when everything merged, 80 when some changes were set aside; a refusal throws (81).
    func run() throws(EntrypointError) -> Int32 {
        for (label, path) in [("BASE", base), ("THEIRS", theirs), ("INTO", into)] {
            guard let st = FileIO.statIfPresent(path) else {
                throw EntrypointError(.usage, "--merge: \(label) \(path) does not exist")
            }
            guard (st.st_mode & S_IFMT) == S_IFREG else {
                throw EntrypointError(.usage, "--merge: \(label) \(path) is not a regular file")
            }
        }
        // INTO is replaced by rename(2): a symbolic link would be replaced, not the file it points
        // at (which the app opens), and the kept `.local-` "copy" would be a link to the live file.
        if DownloadMode.taken(into) == "a symbolic link" {
            throw EntrypointError(.usage, "--merge: INTO \(into) is a symbolic link; give the database file it points to; nothing was changed")
        }
        guard SQLite.hasHeader(into) else {
            throw EntrypointError(
                .mergeRefused, "INTO \(into) is not a SQLite database (no \"SQLite format 3\" header); the merge was refused, nothing was changed")
        }
        let labels = MergeLabels(ours: "INTO \(into)", base: "BASE \(base)", theirs: "THEIRS \(theirs)")
        log.info("merging the changes of \(labels.theirs) since \(labels.base) into \(into)")
        let report = try MergeInstall(db: into, base: base, theirs: theirs, labels: labels, log: log).run()
        report.log(to: log)
        return report.conflicts.isEmpty ? ExitCode.ok.rawValue : ExitCode.mergeConflicts.rawValue
    }
}
