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

/// The record beside the database of what was last installed, verified or uploaded.
struct StateRecord: Equatable {
    /// Dropbox's content hash of `rev`, as last restored, verified or uploaded.
    var contentHash: String
    var rev: String
    var size: UInt64
    var event: String
    var time: String
    /// The content hash the local database had at that moment. It equals `contentHash` after a
    /// restore; after a backup it is the live file's, whose bytes differ from the snapshot's.
    var localHash: String? = nil

    /// Whether a local database with `hash` holds writes made since this record: it differs from
    /// the local hash recorded (or, without one, from what was installed). No record counts as changed.
    static func localChanged(_ record: StateRecord?, localHash hash: String?) -> Bool {
        guard let record else { return true }
        return (record.localHash ?? record.contentHash) != hash
    }

    static func path(for db: String) -> String { db + ".entrypoint.json" }

    static func load(_ db: String) -> StateRecord? {
        guard let bytes = try? FileIO.readSmallFile(path(for: db), limit: 64 << 10),
            let json = try? JSON.parse(bytes),
            let hash = json["content_hash"]?.string, let rev = json["rev"]?.string
        else { return nil }
        return StateRecord(
            contentHash: hash, rev: rev, size: json["size"]?.uint64 ?? 0,
            event: json["event"]?.string ?? "", time: json["time"]?.string ?? "", localHash: json["local_hash"]?.string)
    }

    func save(_ db: String) throws(EntrypointError) {
        var members: [(String, JSON)] = [
            ("content_hash", .string(contentHash)), ("rev", .string(rev)), ("size", .number(Double(size))),
            ("event", .string(event)), ("time", .string(time)),
        ]
        if let localHash { members.append(("local_hash", .string(localHash))) }
        let json = JSON.object(members)
        do throws(SystemError) {
            try FileIO.writeAtomically(Self.path(for: db), Array((json.encoded() + "\n").utf8), mode: 0o644)
        } catch {
            throw localError("write", Self.path(for: db), error.errno)
        }
    }
}

/// An exclusive flock on `<db>.entrypoint.lock`, serialising restores on one volume.
final class RestoreLock {
    let fd: Int32
    let path: String

    init(database: String, timeout: Double, deadline: Double, log: Logger) throws(EntrypointError) {
        path = database + ".entrypoint.lock"
        do throws(SystemError) {
            fd = try FileIO.open(path, O_RDWR | O_CREAT, 0o644)
        } catch {
            throw localError("create the lock file", path, error.errno)
        }
        let giveUp = min(Clock.now() + timeout, deadline)
        var announced = false
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            guard err == EWOULDBLOCK || err == EINTR else {
                FileIO.close(fd)
                throw localError("lock", path, err)
            }
            if !announced {
                log.info("another start is restoring on this volume; waiting for it (lock \(path), up to \(timeout.clean)s)")
                announced = true
            }
            if ep_signal_pending() != 0 {
                FileIO.close(fd)
                throw EntrypointError(signal: ep_signal_pending())
            }
            if Clock.now() >= giveUp {
                FileIO.close(fd)
                let limit = Clock.now() >= deadline ? "until the restore deadline (ENTRYPOINT_DEADLINE)" : "for more than \(timeout.clean)s (ENTRYPOINT_LOCK_TIMEOUT)"
                throw EntrypointError(.lockTimeout, "another start held the restore lock \(path) \(limit); nothing was changed")
            }
            _ = Clock.sleep(0.1)
        }
        if announced { log.info("the other start finished; checking again") }
    }

    deinit { FileIO.close(fd) }  // closing releases the flock
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
        if config.restoreMode == .off {
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
        if config.restoreMode == .ifMissing && hasLocal {
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

    /// Download → verify → keep a copy of a changed local database → rename over it → fsync.
    func install(_ remote: RemoteFile, client: DropboxClient, keepLocal: Bool, recordKnown: Bool) throws(EntrypointError) -> String? {
        let mode = databaseMode
        let temp: (fd: Int32, path: String)
        do throws(SystemError) {
            temp = try FileIO.createTemporary(near: db, infix: tempInfix, mode: mode)
        } catch {
            throw localError("create a temporary file in", directory, error.errno)
        }
        var installed = false
        var fdOpen = true
        defer {
            if fdOpen { FileIO.close(temp.fd) }
            if !installed { _ = unlink(temp.path) }
        }
        // Reserve the space up front: a full volume fails here, before any byte is downloaded.
        if remote.size > 0 {
            let rc = posix_fallocate(temp.fd, 0, off_t(remote.size))
            if rc == ENOSPC || rc == EDQUOT {
                throw localError("reserve \(Progress.bytes(remote.size)) for", temp.path, rc)
            }
        }
        let progress = Progress("downloading", total: remote.size, log: log, interval: config.progressInterval, threshold: config.progressThreshold)
        let hash = try client.download(remote, to: temp.fd, progress: progress)
        crashPoint("downloaded")
        if hash != remote.contentHash {
            throw EntrypointError(.badRemoteData, "the downloaded file's content hash \(hash) does not match Dropbox's \(remote.contentHash) for rev \(remote.rev); nothing was installed")
        }
        let what = "the downloaded file (rev \(remote.rev))"
        do throws(SystemError) {
            // fallocate may have sized the file; the content is exactly remote.size bytes.
            if ftruncate(temp.fd, off_t(remote.size)) != 0 { throw SystemError(errno: errno, call: "ftruncate") }
            try FileIO.fsync(temp.fd)
        } catch {
            throw localError("write", temp.path, error.errno)
        }
        FileIO.close(temp.fd)
        fdOpen = false
        try SQLite.verify(temp.path, what: what)
        try client.checkSignal()

        crashPoint("verified")
        var keptCopy: String?
        if keepLocal {
            if config.keepCopies > 0 {
                keptCopy = try keepCopy()
                log.warning("KEPT A COPY of the local database: it changed since \(recordKnown ? "the last restore" : "it was installed (no record of a restore)") and Dropbox has a different version; the old database is now \(keptCopy!)")
            } else {
                log.warning("replacing a locally changed database without keeping a copy (ENTRYPOINT_KEEP_COPIES=0)")
            }
        }
        crashPoint("before-sidecars")
        // No sidecar of the old database may sit beside the new one, at any instant.
        for sidecar in SQLite.sidecars(db) {
            do throws(SystemError) {
                if let copy = keptCopy {
                    try FileIO.rename(sidecar, copy + String(sidecar.dropFirst(db.count)))
                } else {
                    try FileIO.unlinkIfPresent(sidecar)
                }
                crashPoint("sidecar-moved")
            } catch {
                throw localError(keptCopy == nil ? "remove" : "move", sidecar, error.errno)
            }
        }
        crashPoint("before-rename")
        do throws(SystemError) {
            try FileIO.rename(temp.path, db)
            installed = true
            crashPoint("after-rename")
            try FileIO.fsyncDirectory(directory)
        } catch {
            throw localError(installed ? "sync the directory" : "rename \(temp.path) over", installed ? directory : db, error.errno)
        }
        crashPoint("before-record")
        try StateRecord(contentHash: remote.contentHash, rev: remote.rev, size: remote.size, event: "restored", time: Clock.utcStamp()).save(db)
        crashPoint("after-record")
        pruneCopies()
        return keptCopy
    }

    /// Keeps the current local database as `<db>.local-<UTC time>`: a hard link (free, atomic) when
    /// the file system allows it, a full copy otherwise.
    func keepCopy() throws(EntrypointError) -> String {
        var copy = db + copyInfix + Clock.utcStamp(compact: true)
        var n = 1
        while FileIO.exists(copy) {
            n += 1
            copy = db + copyInfix + Clock.utcStamp(compact: true) + "-\(n)"
        }
        do throws(SystemError) {
            do throws(SystemError) {
                try FileIO.link(db, copy)
            } catch where [EXDEV, EPERM, ENOTSUP, EMLINK].contains(error.errno) {
                try FileIO.copyFile(db, copy, mode: databaseMode)
            }
            try FileIO.fsyncDirectory(directory)
        } catch {
            throw localError("keep a copy of the local database as", copy, error.errno)
        }
        return copy
    }

    /// Keeps the newest ENTRYPOINT_KEEP_COPIES copies (with their sidecars), removes older ones.
    func pruneCopies() {
        let prefix = FileIO.basename(db) + copyInfix
        let copies = FileIO.listDirectory(directory)
            .filter { $0.hasPrefix(prefix) && !SQLite.sidecarSuffixes.contains(where: $0.hasSuffix) }
            .sorted()
        guard copies.count > config.keepCopies else { return }
        for name in copies.prefix(copies.count - config.keepCopies) {
            let path = directory + "/" + name
            for file in [path] + SQLite.sidecarSuffixes.map({ path + $0 }) { try? FileIO.unlinkIfPresent(file) }
            log.info("removed the old copy \(path) (ENTRYPOINT_KEEP_COPIES=\(config.keepCopies))")
        }
    }
}
