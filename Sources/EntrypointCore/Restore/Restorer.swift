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
    case sameData  // neither side changed since the record; nothing downloaded
    case keptLocalChanges  // Dropbox unchanged, the local database changed: kept, nothing downloaded
    case restored(keptCopy: String?)
    /// Both changed: Dropbox's changes were merged into the local database, which now holds writes
    /// Dropbox lacks (the next backup uploads them).
    case merged(keptCopy: String?)

    /// The local database is known to hold what Dropbox holds (the record's data): a hash match, the
    /// same data, or a file just installed. Anything else (kept local changes, if-missing, restore
    /// off) means it may hold writes Dropbox lacks.
    public var matchesDropbox: Bool {
        switch self {
        case .upToDate, .sameData, .restored: true
        case .skippedNoCredentials, .skippedModeOff, .keptExisting, .keptLocalChanges, .merged: false
        }
    }
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
        let st = try FileIO.operation("stat", db) { () throws(SystemError) in try FileIO.stat(db) }
        guard let st else { return nil }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw EntrypointError(.config, "RAILWAY_DB_PATH=\(db) exists but is not a regular file")
        }
        return UInt64(st.st_size)
    }

    func prepareDirectory() throws(EntrypointError) {
        try FileIO.operation("create the directory", directory) { () throws(SystemError) in try FileIO.makeDirectories(directory) }
    }

    /// Temporary files of a start, backup or record write that was killed: under the lock nobody
    /// else owns them.
    func removeStaleTemporaries() {
        let base = FileIO.basename(db)
        let prefixes = [base + tempInfix, base + ".entrypoint-backup-", base + ".entrypoint.json.tmp-", base + MergeInstall.tempInfix, base + ".entrypoint-conflicts-", base + BaseCopy.tempInfix]
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
        var unusable: String?
        if let s = size, s > 0 {
            if case .unusable(let why) = try SQLite.normalize(db, log: log) { unusable = why }
            size = try localSize()
        }
        let hasLocal = (size ?? 0) > 0
        if config.restorePolicy == .ifMissing && hasLocal {
            log.info("\(db) exists; not replacing it (ENTRYPOINT_RESTORE_MODE=if-missing)")
            return .keptExisting
        }

        // The local hash runs on its own threads while the token is refreshed and the metadata
        // fetched: none of the three needs another. A failure of the network side comes first, as
        // when they ran one after the other (dropping `hashing` cancels and joins it).
        let hashing = size.map { _ in BackgroundDataHash(path: db) }
        let client = try makeClient()
        log.info("checking \(config.remotePath) in Dropbox")
        // A cold start downloads (unless Dropbox lacks the file): the connection to the content
        // host is opened while the token request and get_metadata are in flight
        // (ContentPreconnect.swift). Joined before this function returns, on every path.
        let preconnect = hasLocal ? nil : ContentPreconnect.start(client: client, config: config, log: log, deadline: deadline)
        defer { preconnect?.finish() }
        guard let remote = try client.metadata(config.remotePath) else {
            throw EntrypointError(.remoteMissing, "\(config.remotePath) does not exist in Dropbox (HTTP 409 path/not_found; check DROPBOX_DB_PATH)")
        }
        var local: LocalState?
        if let size, let hashing {
            do throws(SystemError) {
                let hashes = try hashing.wait()
                local = LocalState(size: size, contentHash: hashes.content, dataHash: hashes.data, unusable: unusable)
            } catch {
                try client.checkSignal()
                throw localError("read", db, error.errno)
            }
        }
        let record = StateRecord.load(db, resolvedAgainst: remote)
        let (decision, base) = RestoreDecision.decideWithBase(local: local, remote: remote, record: record, db: db)
        switch decision {
        case .hashMatch:
            log.info("No download needed (hash match)")
            log.debug("content hash \(remote.contentHash), rev \(remote.rev), \(remote.size) bytes")
            let dataHash = local?.dataHash
            if record?.contentHash != remote.contentHash || record?.rev != remote.rev || record?.localHash != nil || record?.dataHash != dataHash {
                try StateRecord(contentHash: remote.contentHash, rev: remote.rev, size: remote.size, event: "verified", time: Clock.utcStamp(), dataHash: dataHash).save(db)
            }
            return .upToDate
        case .sameData(let rev):
            log.info(RestoreDecision.sameDataLine(rev: rev, record: record))
            if var upgraded = record, upgraded.dataHash == nil, let local {
                // A record of an older version: from now on the data hash decides.
                upgraded.dataHash = local.dataHash
                upgraded.localHash = nil
                try upgraded.save(db)
            }
            return .sameData
        case .keepLocalChanges(let rev):
            // The record keeps saying what Dropbox has: the next start decides the same way.
            log.info(RestoreDecision.keepLocalLine(rev: rev))
            return .keptLocalChanges
        case .download(let keepCopy, let reason):
            log.info("Hash mismatch - downloading from Dropbox (local: \(hasLocal ? local?.contentHash ?? "?" : "missing"), remote: \(remote.contentHash), rev \(remote.rev), \(Progress.bytes(remote.size)))")
            preconnect?.handOver(to: client)
            let keptCopy = try install(remote, client: client, keepLocal: hasLocal && keepCopy, reason: reason)
            log.info("Restored to \(db)")
            return .restored(keptCopy: keptCopy)
        case .merge(let rev):
            log.info("Both changed since rev \(record?.rev ?? "?"): merging Dropbox's rev \(rev) into the local database (docs/design.md, \"The merge\")")
            preconnect?.handOver(to: client)
            return try mergeAtStart(remote, base: base ?? BaseCopy.path(for: db), client: client)
        }
    }
}
