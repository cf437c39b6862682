// The temporary files entrypoint makes beside the database, named in one place. A start (under the
// restore lock) and the supervisor after it stopped a backup worker (holding the same lock) remove
// the ones a killed process left: under the lock nobody else owns them.

enum Temporaries {
    /// `<db><infix><random>`: the download, the backup's snapshot, the record's and the failback
    /// record's temporaries, the merge's copy, the conflicts database before its rename, the base
    /// downloaded by rev.
    static let infixes = [
        RevisionFetch.tempInfix, ".entrypoint-backup-", ".entrypoint.json.tmp-", ".entrypoint-failback.json.tmp-", MergeInstall.tempInfix,
        ".entrypoint-conflicts-", BaseCopy.tempInfix,
    ]

    /// Removes every temporary of `db` (one line each, naming who left it); returns their paths.
    @discardableResult
    static func removeLeftovers(of db: String, leftBy: String, log: Logger) -> [String] {
        let directory = FileIO.dirname(db)
        let prefixes = infixes.map { FileIO.basename(db) + $0 }
        var removed: [String] = []
        for name in FileIO.listDirectory(directory) where prefixes.contains(where: name.hasPrefix) {
            let path = directory + "/" + name
            if (try? FileIO.unlinkIfPresent(path)) != nil {
                log.info("removed \(path), left by \(leftBy)")
                removed.append(path)
            }
        }
        return removed
    }
}
