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
    /// What this run shares with the other modes: configuration, log, environment, the named
    /// deadline (the restore's, ENTRYPOINT_DEADLINE), the client factory, the lock, the test hooks.
    let scope: RunScope
    var config: Configuration { scope.config }
    var log: Logger { scope.log }
    var environment: [String: String] { scope.environment }
    /// Monotonic time after which nothing more is attempted.
    var deadline: Double { scope.deadline.instant }

    public init(config: Configuration, log: Logger, environment: [String: String]) {
        self.init(scope: RunScope(config: config, log: log, environment: environment, deadline: .restore(config)))
    }

    init(scope: RunScope) { self.scope = scope }

    var db: String { config.localPath }
    var directory: String { FileIO.dirname(db) }
    var tempInfix: String { RevisionFetch.tempInfix }
    var copyInfix: String { ".local-" }
    /// The database's permission bits, or 0600 for a new one: temporaries and copies get the same.
    var databaseMode: mode_t { FileIO.statIfPresent(db).map { $0.st_mode & 0o7777 } ?? 0o600 }

    /// Test hook for the crash-safety test (TestHooks.crash: ENTRYPOINT_TEST_CRASH_AT=<point>).
    func crashPoint(_ name: String) { scope.hooks.crash(at: name) }

    func prepareDirectory() throws(EntrypointError) {
        try FileIO.operation("create the directory", directory) { () throws(SystemError) in try FileIO.makeDirectories(directory) }
    }

    /// Temporary files of a start, backup or record write that was killed: under the lock nobody
    /// else owns them.
    func removeStaleTemporaries() {
        Temporaries.removeLeftovers(of: db, leftBy: "an interrupted start", log: log)
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
        let lock = try scope.lock()
        defer { withExtendedLifetime(lock) {} }
        removeStaleTemporaries()

        let (size, unusable) = try normalizedLocal()
        let hasLocal = (size ?? 0) > 0
        if config.restorePolicy == .ifMissing && hasLocal {
            log.info("\(db) exists; not replacing it (ENTRYPOINT_RESTORE_MODE=if-missing)")
            return .keptExisting
        }

        // The local hash runs on its own threads while the token is refreshed and the metadata
        // fetched: none of the three needs another. A failure of the network side comes first, as
        // when they ran one after the other (dropping `hashing` cancels and joins it).
        let hashing = size.map { _ in BackgroundDataHash(path: db) }
        let client = try scope.makeClient()
        log.info("checking \(config.remotePath) in Dropbox")
        // A cold start downloads (unless Dropbox lacks the file): the connection to the content
        // host is opened while the token request and get_metadata are in flight
        // (ContentPreconnect.swift). Joined before this function returns, on every path.
        let preconnect = hasLocal ? nil : ContentPreconnect.start(client: client, config: config, log: log, deadline: deadline)
        defer { preconnect?.finish() }
        guard let remote = try client.metadata(config.remotePath) else {
            throw EntrypointError(.remoteMissing, "\(config.remotePath) does not exist in Dropbox (HTTP 409 path/not_found; check DROPBOX_DB_PATH)")
        }
        let local = try localState(size: size, hashing: hashing, unusable: unusable, client: client)
        let record = StateRecord.load(db, resolvedAgainst: remote)
        let (decision, base) = RestoreDecision.decideWithBase(local: local, remote: remote, record: record, db: db)
        switch decision {
        case .hashMatch:
            log.info("No download needed (hash match)")
            log.debug("content hash \(remote.contentHash), rev \(remote.rev), \(remote.size) bytes")
            try recordHashMatch(remote, record: record, dataHash: local?.dataHash)
            return .upToDate
        case .sameData(let rev):
            log.info(RestoreDecision.sameDataLine(rev: rev, record: record))
            try upgradeRecord(record, local: local)
            return .sameData
        case .keepLocalChanges(let rev):
            // The record keeps saying what Dropbox has: the next start decides the same way.
            log.info(RestoreDecision.keepLocalLine(rev: rev))
            return .keptLocalChanges
        case .download(let keepCopy, let reason):
            log.info(
                "Hash mismatch - downloading from Dropbox (local: \(hasLocal ? local?.contentHash ?? "?" : "missing"), remote: \(remote.contentHash), rev \(remote.rev), \(Progress.bytes(remote.size)))"
            )
            preconnect?.handOver(to: client)
            let keptCopy = try install(remote, client: client, keepLocal: hasLocal && keepCopy, reason: reason)
            log.info("Restored to \(db)")
            return .restored(keptCopy: keptCopy)
        case .merge(let rev):
            log.info("Both changed since rev \(record?.rev ?? "?"): merging Dropbox's rev \(rev) into the local database (docs/design.md, \"The merge\")")
            preconnect?.handOver(to: client)
            guard let base else { throw EntrypointError(.software, "a merge without a base") }  // decideWithBase returns one with .merge
            return try mergeAtStart(remote, base: base, client: client)
        }
    }

    /// The local database's size after it was brought to a complete state (SQLite/SQLiteNormalize),
    /// and why it is not a usable database, when it is not.
    func normalizedLocal() throws(EntrypointError) -> (size: UInt64?, unusable: String?) {
        let size = try scope.localSize()
        guard let found = size, found > 0 else { return (size, nil) }
        var unusable: String?
        if case .unusable(let why) = try SQLite.normalize(db, log: log) { unusable = why }
        return (try scope.localSize(), unusable)
    }

    /// The local database's state from its background hash (nil without a local database).
    func localState(size: UInt64?, hashing: BackgroundDataHash?, unusable: String?, client: DropboxClient) throws(EntrypointError) -> LocalState? {
        guard let size, let hashing else { return nil }
        do throws(SystemError) {
            let hashes = try hashing.wait()
            return LocalState(size: size, contentHash: hashes.content, dataHash: hashes.data, unusable: unusable)
        } catch {
            try client.checkSignal()
            throw localError("read", db, error.errno)
        }
    }

    /// A hash match: the record says so (written only when it does not already).
    func recordHashMatch(_ remote: RemoteFile, record: StateRecord?, dataHash: String?) throws(EntrypointError) {
        if record?.contentHash != remote.contentHash || record?.rev != remote.rev || record?.localHash != nil || record?.dataHash != dataHash {
            try StateRecord(contentHash: remote.contentHash, rev: remote.rev, size: remote.size, event: "verified", time: Clock.utcStamp(), dataHash: dataHash)
                .save(db)
        }
    }

    /// The same data: a record of an older version gets the data hash, which decides from now on.
    func upgradeRecord(_ record: StateRecord?, local: LocalState?) throws(EntrypointError) {
        guard var upgraded = record, upgraded.dataHash == nil, let local else { return }
        upgraded.dataHash = local.dataHash
        upgraded.localHash = nil
        try upgraded.save(db)
    }
}
