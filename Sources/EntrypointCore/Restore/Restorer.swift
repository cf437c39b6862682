// The restore: decide whether a download is needed, download exactly the checked revision into a
// temporary file beside the database, verify it, keep a locally changed database, install
// atomically. docs/design.md explains the order of operations and why each step is crash-safe.
import CShims
import Glibc

/// What a restore did (or, in check mode, would do).
public enum RestoreOutcome: Equatable, Sendable {
    case skippedNoCredentials
    case skippedModeOff
    case keptExisting  // if-missing with a database present
    case upToDate  // hash match
    case restored(keptCopy: String?)
}

public struct Restorer {
    let config: Configuration
    let log: Logger
    let environment: [String: String]
    let deadline: Double

    public init(config: Configuration, log: Logger, environment: [String: String], seconds: Double? = nil) {
        self.config = config
        self.log = log
        self.environment = environment
        self.deadline = Clock.now() + (seconds ?? config.deadline)
    }

    var db: String { config.localPath }
    var directory: String { FileIO.dirname(db) }
    var tempInfix: String { ".entrypoint-download-" }
    var copyInfix: String { ".local-" }
    /// The database's permission bits, or 0600 for a new one: temporaries and copies get the same.
    var databaseMode: mode_t { FileIO.statIfPresent(db).map { $0.st_mode & 0o7777 } ?? 0o600 }

    /// Test hook for the crash-safety test: ENTRYPOINT_TEST_CRASH_AT=<point> makes the process
    /// SIGKILL itself at that point of the install, as a power cut or an OOM kill would.
    func crashPoint(_ name: String) {
        if environment["ENTRYPOINT_TEST_CRASH_AT"] == name { kill(getpid(), SIGKILL) }
    }

    /// Makes the DropboxClient (libcurl, CA bundle) — only once a network call is really needed.
    func makeClient() throws(EntrypointError) -> DropboxClient {
        let ca = try CASource.resolve(environment: environment)
        log.debug("TLS trust: \(ca.description)")
        let curl = try Curl(caSource: ca, connectTimeout: config.connectTimeout, stallTimeout: config.stallTimeout)
        return DropboxClient(config: config, log: log, curl: curl, deadline: deadline)
    }

    /// Size of the local database, or nil when it does not exist. A directory is an error.
    func localSize() throws(EntrypointError) -> UInt64? {
        let st: stat?
        do throws(SystemError) { st = try FileIO.stat(db) } catch { throw localError("stat", db, error.errno) }
        guard let st else { return nil }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw EntrypointError(.config, "RAILWAY_DB_PATH=\(db) exists but is not a regular file")
        }
        return UInt64(st.st_size)
    }

    func prepareDirectory() throws(EntrypointError) {
        do throws(SystemError) {
            try FileIO.makeDirectories(directory)
        } catch {
            throw localError("create the directory", directory, error.errno)
        }
    }

    /// Temporary files of a start, backup or record write that was killed: under the lock nobody
    /// else owns them.
    func removeStaleTemporaries() {
        let base = FileIO.basename(db)
        let prefixes = [base + tempInfix, base + ".entrypoint-backup-", base + ".entrypoint.json.tmp-"]
        for name in FileIO.listDirectory(directory) where prefixes.contains(where: name.hasPrefix) {
            let path = directory + "/" + name
            if (try? FileIO.unlinkIfPresent(path)) != nil {
                log.info("removed \(path), left by an interrupted start")
            }
        }
    }

    public func run() throws(EntrypointError) -> RestoreOutcome {
        if config.restorePolicy == .off {
            log.info("restore is off (ENTRYPOINT_RESTORE_MODE=off); starting with the local database as it is")
            return .skippedModeOff
        }
        if config.credentials == .none {
            log.warning("no Dropbox credentials (DROPBOX_ACCESS_TOKEN, or DROPBOX_APP_KEY + DROPBOX_REFRESH_TOKEN); restore skipped")
            return .skippedNoCredentials
        }
        try prepareDirectory()
        let lock = try RestoreLock(database: db, timeout: config.lockTimeout, deadline: deadline, log: log)
        defer { withExtendedLifetime(lock) {} }
        removeStaleTemporaries()

        var size = try localSize()
        if let s = size, s > 0 {
            if !(try SQLite.normalize(db, log: log)) {
                log.warning("\(db) is not a SQLite database")
            }
            size = try localSize()
        }
        let hasLocal = (size ?? 0) > 0
        if config.restorePolicy == .ifMissing && hasLocal {
            log.info("\(db) exists; not replacing it (ENTRYPOINT_RESTORE_MODE=if-missing)")
            return .keptExisting
        }

        let client = try makeClient()
        log.info("checking \(config.remotePath) in Dropbox")
        guard let remote = try client.metadata(config.remotePath) else {
            throw EntrypointError(.remoteMissing, "\(config.remotePath) does not exist in Dropbox (HTTP 409 path/not_found; check DROPBOX_DB_PATH)")
        }
        var localHash: String?
        if size != nil {
            do throws(SystemError) {
                localHash = try ContentHash.ofFile(db)
            } catch {
                try client.checkSignal()
                throw localError("read", db, error.errno)
            }
        }
        let record = StateRecord.load(db)
        if localHash == remote.contentHash {
            log.info("No download needed (hash match)")
            log.debug("content hash \(remote.contentHash), rev \(remote.rev), \(remote.size) bytes")
            if record?.contentHash != remote.contentHash || record?.rev != remote.rev || record?.localHash != nil {
                try StateRecord(contentHash: remote.contentHash, rev: remote.rev, size: remote.size, event: "verified", time: Clock.utcStamp()).save(db)
            }
            return .upToDate
        }
        log.info("Hash mismatch - downloading from Dropbox (local: \(hasLocal ? localHash ?? "?" : "missing"), remote: \(remote.contentHash), rev \(remote.rev), \(Progress.bytes(remote.size)))")
        // The local database holds writes Dropbox does not have when it differs from what we last installed.
        let localChanged = hasLocal && StateRecord.localChanged(record, localHash: localHash)
        let keptCopy = try install(remote, client: client, keepLocal: localChanged, recordKnown: record != nil)
        log.info("Restored to \(db)")
        return .restored(keptCopy: keptCopy)
    }
}
