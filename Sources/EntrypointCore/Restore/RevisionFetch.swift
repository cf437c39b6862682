// A checked download of one of Dropbox's revisions into a private temporary beside the database:
// the restore's steps 1-7 (Install.swift, `downloadVerified`) and the merge base fetched by rev
// (BaseFetch.swift, `obtainBase`). The restore, the merge at start, the merge on upload and
// `--check` share it, so none of them borrows the restore's own type.
import Glibc

struct RevisionFetch {
    let scope: RunScope
    var config: Configuration { scope.config }
    var log: Logger { scope.log }
    var db: String { config.localPath }
    var directory: String { FileIO.dirname(db) }
    /// The download's temporary: `<db>.entrypoint-download-<random>`.
    static let tempInfix = ".entrypoint-download-"
    /// The database's permission bits, or 0600 for a new one: the download gets the same.
    var databaseMode: mode_t { FileIO.statIfPresent(db).map { $0.st_mode & 0o7777 } ?? 0o600 }

    /// Test hook for the crash-safety tests (TestHooks.crash: ENTRYPOINT_TEST_CRASH_AT=<point>).
    func crashPoint(_ name: String) { scope.hooks.crash(at: name) }
}
