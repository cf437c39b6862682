// --backup: a consistent snapshot of the live database uploaded to DROPBOX_DB_PATH without ever
// overwriting a remote copy that moved on since the last restore (Backup/BackupRun.swift). --backup
// --auto (the supervisor's periodic and stop backups) uploads nothing when the data did not change,
// merges a remote copy that moved on into the live database and uploads the result
// (Backup/MergeOnUpload.swift), and only when that merge is impossible keeps this volume's data
// beside it (Backup/SideCopy.swift) instead of refusing.

struct BackupMode {
    let config: Configuration
    let force: Bool
    /// `--backup --auto`: never overwrite, never give up (docs/design.md, "Automatic backups").
    let automatic: Bool
    /// `--backup --merge`: Dropbox's file moved on since the base: merge, then upload.
    let merge: Bool
    let environment: [String: String]
    let log: Logger

    /// The flags -> one backup, run again after each merge of Dropbox's newer rev (a new snapshot,
    /// uploaded over that rev); Dropbox moving on again means another merge, at most
    /// `BackupRun.mergeRounds`. One deadline for all rounds: the backup's, or the one the supervisor
    /// gave its worker (Support/Deadline.swift).
    func run() throws(EntrypointError) {
        let deadline = automatic ? try Deadline.forWorker(config, environment) : Deadline.long(.backup, config, environment)
        let scope = RunScope(config: config, log: log, environment: environment, deadline: deadline)
        let backup = BackupRun(scope: scope, force: force, automatic: automatic, merge: merge)
        var merges = 0
        while try backup.run() == .mergedRunAgain {
            merges += 1
            guard merges < BackupRun.mergeRounds else {
                throw EntrypointError(
                    .conflict,
                    "Dropbox's \(config.remotePath) kept changing during the backup (merged \(merges) times); the merges are in the local database, nothing more was uploaded; run the backup again"
                )
            }
        }
    }
}
