// --revisions: DROPBOX_DB_PATH's revisions in Dropbox (files/list_revisions), one per line, newest
// first, on standard output: `<rev>  <server_modified>  <size>  <content hash>`.
import CShims
import Glibc

struct RevisionsMode {
    let config: Configuration
    let environment: [String: String]
    let log: Logger

    func run() throws(EntrypointError) {
        guard config.credentials != .none else {
            throw EntrypointError(.config, "--revisions needs Dropbox credentials (DROPBOX_ACCESS_TOKEN, or DROPBOX_APP_KEY and DROPBOX_REFRESH_TOKEN)")
        }
        let scope = RunScope(config: config, log: log, environment: environment, deadline: .restore(config, name: .revisions))
        let client = try scope.makeClient()
        guard let (entries, deleted, more) = try client.revisions(config.remotePath) else {
            throw EntrypointError(.remoteMissing, "\(config.remotePath) does not exist in Dropbox (HTTP 409 path/not_found; check DROPBOX_DB_PATH)")
        }
        for file in entries {
            print(Self.line(file))
        }
        fflush(nil)
        if more {
            // Not silent: with a backup every 5 minutes, 1000 revisions are only a few days.
            log.warning(
                "Dropbox keeps older revisions of \(config.remotePath) than the \(entries.count) newest listed here (--revisions lists at most \(entries.count)); the oldest listed is \(entries.last.map { "\($0.rev) of \($0.serverModified)" } ?? "?")"
            )
        }
        let note = deleted ? "; the file itself is deleted or moved in Dropbox" : ""
        log.info(
            "\(entries.count) revision\(entries.count == 1 ? "" : "s") of \(config.remotePath), newest first\(note); download one with entrypoint --download REV FILE"
        )
    }

    /// One revision's line: rev, time, size in bytes, content hash, separated by two spaces.
    static func line(_ file: RemoteFile) -> String {
        "\(file.rev)  \(file.serverModified)  \(file.size)  \(file.contentHash)"
    }
}
