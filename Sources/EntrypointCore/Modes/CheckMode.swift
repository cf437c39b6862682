// --check: what a restore would do and why, without changing anything.
import CShims
import Glibc

/// --check: says what a restore would do and why, without changing anything.
struct CheckMode {
    let config: Configuration
    let environment: [String: String]
    let log: Logger

    func say(_ line: String) { print(log.redact(line)) }

    func run() throws(EntrypointError) {
        say("configuration:")
        for (name, value) in config.redactedSummary { say("  \(name) = \(value)") }
        try checkAppUser()
        let scope = RunScope(config: config, log: log, environment: environment, deadline: .restore(config))
        defer { fflush(nil) }
        if config.restorePolicy == .off {
            say("result: restore is off (ENTRYPOINT_RESTORE_MODE=off); the command would start on the local database as it is")
            return
        }
        if config.credentials == .none {
            say("result: no Dropbox credentials; the restore would be skipped and the command started")
            return
        }
        do throws(EntrypointError) {
            let size = try scope.localSize()
            let hasLocal = (size ?? 0) > 0
            say("local: \(config.localPath): \(size.map { "\(Progress.bytes($0)) (\($0) bytes)" } ?? "missing")")
            let sidecars = SQLite.sidecars(config.localPath)
            let pending = SQLite.pendingSidecars(config.localPath)
            if !sidecars.isEmpty {
                say(
                    "local: sidecar files \(sidecars.joined(separator: ", "))\(pending.isEmpty ? " (a cold journal: SQLite ignores it; a restore that replaces the database moves it away)" : " would be checkpointed first")"
                )
            }
            let client = try scope.makeClient()
            if config.credentials.refreshCredentials != nil {
                try client.refreshToken()
                say("credentials: token refresh OK")
            }
            guard let remote = try client.metadata(config.remotePath) else {
                throw EntrypointError(.remoteMissing, "\(config.remotePath) does not exist in Dropbox (check DROPBOX_DB_PATH)")
            }
            say("credentials: OK (files/get_metadata answered)")
            if let root = client.pathRoot { say("path root: every call carries Dropbox-API-Path-Root: \(root)") }
            say(
                "remote: \(remote.pathDisplay) rev \(remote.rev), \(Progress.bytes(remote.size)) (\(remote.size) bytes), modified \(remote.serverModified), content hash \(remote.contentHash)"
            )
            let local = size.flatMap { sayLocalState(size: $0, pending: hasLocal ? pending : []) }
            let record = StateRecord.load(config.localPath, resolvedAgainst: remote)
            if let record {
                say(
                    "record: last \(record.event) rev \(record.rev) at \(record.time), content hash \(record.contentHash)\(record.dataHash.map { ", data hash \($0)" } ?? "")"
                )
            }
            if config.restorePolicy == .ifMissing && hasLocal {
                say("result: would keep the local database (ENTRYPOINT_RESTORE_MODE=if-missing)")
                return
            }
            // The restore's own decision function (Restorer.run calls the same).
            let (decision, base) = RestoreDecision.decideWithBase(local: local, remote: remote, record: record, db: config.localPath)
            say(decision.checkLine(remote: remote, record: record, keepCopies: config.keepCopies, base: base))
            if case .merge = decision, let base { try previewMerge(remote, base: base, scope: scope, client: client) }
            if case .download = decision { try checkRoom(for: remote) }
        } catch {
            say("result: FAIL: \(error.message)")
            throw error
        }
    }

    /// ENTRYPOINT_APP_USER resolved as the start would resolve it.
    func checkAppUser() throws(EntrypointError) {
        guard let spec = config.appUser else { return }
        do throws(EntrypointError) {
            let user = try AppUser.resolve(spec)
            say("app user: ENTRYPOINT_APP_USER=\(spec.raw) is \(user.summary), HOME=\(user.home)")
        } catch {
            say("result: FAIL: \(error.message)")
            throw error
        }
    }

    /// The local database's hashes as the restore would see them (`pending`: sidecars it would
    /// checkpoint first), or nil when they cannot be read.
    func sayLocalState(size: UInt64, pending: [String]) -> LocalState? {
        guard let local = inspect(size: size, pending: pending) else {
            say("local: content hash unreadable")
            return nil
        }
        say(
            "local: content hash \(local.contentHash), data hash \(local.dataHash)\(pending.isEmpty ? "" : " (of a checkpointed copy: what the restore would find after checkpointing)")"
        )
        if let why = local.unusable { say("local: not a usable SQLite database (\(why))") }
        return local
    }

    /// A download needs room for Dropbox's file beside the database.
    func checkRoom(for remote: RemoteFile) throws(EntrypointError) {
        var st = statvfs()
        guard statvfs(FileIO.dirname(config.localPath), &st) == 0 else { return }
        let free = UInt64(st.f_bavail) * UInt64(st.f_frsize)
        if free < remote.size {
            throw EntrypointError(
                .localIO,
                "only \(Progress.bytes(free)) free in \(FileIO.dirname(config.localPath)), the download needs \(Progress.bytes(remote.size))")
        }
    }

    /// The local database as the restore would see it after normalizing, without changing it: with
    /// a `-wal` or a hot `-journal` beside it, a copy (main file, `-wal`, `-journal`; SQLite rebuilds
    /// the `-shm`) in a temporary directory is normalized and hashed instead. Nil when unreadable.
    func inspect(size: UInt64, pending: [String]) -> LocalState? {
        let path = config.localPath
        guard !pending.isEmpty else {
            guard let hashes = try? DataHash.ofFile(path) else { return nil }
            return LocalState(size: size, contentHash: hashes.content, dataHash: hashes.data, unusable: size > 0 ? SQLite.unusableReason(path) : nil)
        }
        var template = Array(((environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp") + "/entrypoint-check-XXXXXX").utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            say("local: cannot make a temporary directory to checkpoint a copy in (\(String(cString: strerror(errno)))); hashing the main file as it is")
            return inspect(size: size, pending: [])
        }
        let dir = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        let copy = dir + "/" + FileIO.basename(path)
        defer {
            for f in [copy] + SQLite.sidecarSuffixes.map({ copy + $0 }) { try? FileIO.unlinkIfPresent(f) }
            if rmdir(dir) != 0 { log.debug("cannot remove \(dir)") }
        }
        do throws(SystemError) {
            try FileIO.copyFile(path, copy, near: copy, infix: ".copy-", mode: 0o600)
            for suffix in ["-wal", "-journal"] where FileIO.exists(path + suffix) {
                try FileIO.copyFile(path + suffix, copy + suffix, near: copy, infix: ".copy-", mode: 0o600)
            }
        } catch {
            say("local: cannot copy the database to \(dir) to checkpoint it (\(error.message)); hashing the main file as it is")
            return inspect(size: size, pending: [])
        }
        let state: LocalDatabase
        do throws(EntrypointError) { state = try SQLite.normalize(copy, log: Logger(level: .error, fd: -1)) } catch {
            say("local: checkpointing a copy failed (\(error.message)); hashing the main file as it is")
            return inspect(size: size, pending: [])
        }
        guard let hashes = try? DataHash.ofFile(copy) else { return nil }
        var unusable: String?
        if case .unusable(let why) = state { unusable = why }
        return LocalState(size: size, contentHash: hashes.content, dataHash: hashes.data, unusable: unusable)
    }
}
