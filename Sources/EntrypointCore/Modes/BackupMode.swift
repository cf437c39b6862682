// --backup: a consistent snapshot of the live database uploaded to DROPBOX_DB_PATH without ever
// overwriting a remote copy that moved on since the last restore. --backup --auto (the supervisor's
// periodic and stop backups) uploads nothing when the data did not change, merges a remote copy that
// moved on into the live database and uploads the result (Backup/MergeOnUpload.swift), and only when
// that merge is impossible keeps this volume's data beside it (<stem>.failback-<UTC time><ext>, one
// per divergence, updated in place) instead of refusing.
import CSQLite
import CShims
import Glibc


struct BackupMode {
    let config: Configuration
    let force: Bool
    /// `--backup --auto`: never overwrite, never give up (docs/design.md, "Automatic backups").
    var automatic = false
    let environment: [String: String]
    let log: Logger
    /// `--backup --merge`: Dropbox's file moved on since the base: merge, then upload (MergeOnUpload).
    var merge = false

    /// What a backup did: done (uploaded, nothing to do, or beside), or merged Dropbox's newer rev
    /// into the local database, so the caller runs it again to upload the result over that rev.
    enum Outcome { case done, mergedRunAgain }
    /// Merges in one `--backup --merge` before it gives up (Dropbox kept moving on).
    static let mergeRounds = 3

    @discardableResult
    func run() throws(EntrypointError) -> Outcome {
        let db = config.localPath
        // A worker on a terminal runs in a background process group: with `stty tostop` its first log
        // line would stop it (SIGTTOU) until the supervisor's deadline. It writes its lines anyway.
        if automatic { bestEffort("SIG_ERR is only for an invalid signal number", signal(SIGTTOU, SIG_IGN)) }
        guard config.credentials != .none else {
            throw EntrypointError(.config, "--backup needs Dropbox credentials (DROPBOX_ACCESS_TOKEN, or DROPBOX_APP_KEY + DROPBOX_REFRESH_TOKEN)")
        }
        let restorer = Restorer(config: config, log: log, environment: environment, seconds: config.backupDeadline)
        guard let size = try restorer.localSize(), size > 0 else {
            throw EntrypointError(.config, "nothing to back up: \(db) does not exist or is empty (RAILWAY_DB_PATH)")
        }
        guard SQLite.hasHeader(db) else {
            throw EntrypointError(.config, "\(db) is not a SQLite database; not uploading it")
        }
        let lock = try RestoreLock(database: db, timeout: config.lockTimeout, deadline: restorer.deadline, deadlineName: "the \(config.backupDeadline.clean)s backup deadline (ENTRYPOINT_DEADLINE)", log: log)
        defer { withExtendedLifetime(lock) {} }

        // Snapshot into a temporary file beside the database, only when the volume has room for it.
        try FreeSpace.check(db, reserve: config.backupReserve)
        let temp = try FileIO.operation("create a temporary file in", FileIO.dirname(db)) { () throws(SystemError) in
            try FileIO.createTemporary(near: db, infix: ".entrypoint-backup-", mode: 0o600)
        }
        let tempPath = temp.path  // removed with `temp` when this scope ends; its sidecars here:
        defer { for f in SQLite.sidecarSuffixes.map({ tempPath + $0 }) { FileIO.removeBestEffort(f) } }
        temp.descriptor.close()  // SQLite writes the snapshot through its own connection
        log.info("taking a snapshot of \(db)")
        hangForTest()
        try SQLite.snapshot(db, to: tempPath, deadline: restorer.deadline, lockTimeout: config.lockTimeout, log: log)
        // The record describes the snapshot itself: its data hash (computed below with its content
        // hash, in one pass). No hash of the live file is taken after the snapshot: a commit made during
        // or after it changes the live file's data hash, so the next restore sees a local change and
        // keeps it (docs/design.md, "The record").

        // Declared before `hashing`: closed after its join below, on every path.
        let snapshotFile = try FileIO.operation("open", tempPath) { () throws(SystemError) in try FileDescriptor.open(tempPath, O_RDONLY) }
        let fd = snapshotFile.raw
        let snapshotSize = try FileIO.operation("stat", tempPath) { () throws(SystemError) in try FileIO.size(fd) }
        // The snapshot's hashes are computed on their own threads while it is checked, the client is
        // made and the metadata fetched (none needs another). The lines and errors are those of the old
        // order: a failed check first (the hash is then cancelled), then a failed hash, and the snapshot
        // line before the network's error.
        Exec.testSignal("backup-hash", environment)
        let hashing = BackgroundDataHash(fd: fd, size: snapshotSize)
        defer { hashing.cancel() }  // joined before `fd` is closed, on every path
        try SQLite.verify(
            tempPath, what: "the snapshot of \(db)", code: .localIO, consequence: "the local database may be damaged, nothing was uploaded")
        func hashes() throws(EntrypointError) -> (content: String, data: String, blocks: [UInt8]) {
            let all: (content: String, data: String, blocks: [UInt8])
            do throws(SystemError) { all = try hashing.waitWithBlocks() } catch {
                throw error.localError("read", tempPath)  // a Ctrl-C here is 130, not 74
            }
            log.info("snapshot: \(Progress.bytes(UInt64(snapshotSize))), content hash \(all.content)")
            return all
        }
        let client: DropboxClient
        let remote: RemoteFile?
        do throws(EntrypointError) {
            client = try restorer.makeClient()
            client.deadlineName = "the \(config.backupDeadline.clean)s backup deadline (ENTRYPOINT_DEADLINE\(environment["ENTRYPOINT_DEADLINE"].nonEmpty == nil ? " unset: an hour for --backup" : ""))"
            remote = try client.metadata(config.remotePath)
        } catch {
            // A stop signal stops the hash too (EINTR): then the network's error (the signal) is the line.
            let network = error
            do throws(EntrypointError) { _ = try hashes() } catch { if ep_signal_pending() == 0 { throw error } }
            throw network
        }
        let (hash, dataHash, blocks) = try hashes()
        let record = StateRecord.load(db, resolvedAgainst: remote)
        let snapshot = Snapshot(fd: fd, size: snapshotSize, hash: hash, dataHash: dataHash, blockDigests: blocks)
        // The decision (Backup/BackupDecision.swift). --auto: the data is what Dropbox still has at the
        // record's rev: nothing to upload. (When Dropbox's file moved on, even unchanged data goes
        // beside it below: the record's rev may be this volume's own upload, which someone else's
        // upload has just replaced.) The base is hashed only when a merge is asked for and possible.
        let mergeable = merge && record != nil && remote != nil && remote?.rev != record?.rev
        // The base on the volume is hashed (a full read: once per run); without it, the record's rev.
        let base = mergeable ? BaseSource.choose(proven: BaseCopy.proven(for: db, record: record), record: record) : nil
        let decision = BackupDecision.decide(
            remote: remote, record: record, contentHash: hash, dataHash: dataHash, force: force, automatic: automatic, merge: merge,
            baseAvailable: base != nil)
        var mode: JSON
        switch decision {
        case .nothingToUpload(let rev):
            // A record resolved against Dropbox's file (a lost answer, Storage/UploadNote.swift) is written down.
            if let record, record != StateRecord.load(db) { try record.save(db) }
            log.info("backup: no change since rev \(rev); nothing uploaded")
            return .done
        case .alreadyThere(let rev):
            log.info("Dropbox already has this database (hash match, rev \(rev)); nothing uploaded")
            try StateRecord(contentHash: hash, rev: rev, size: remote?.size ?? UInt64(snapshotSize), event: "uploaded", time: Clock.utcStamp(), dataHash: dataHash).save(db)
            try FailbackRecord.remove(db)
            BaseCopy.keep(tempPath, for: db, log: log)
            return .done
        case .add:
            mode = .string("add")
        case .overwrite(let rev):
            log.warning("--force: overwriting \(config.remotePath) (rev \(rev)) regardless of its history")
            mode = .string("overwrite")
        case .update(let rev):
            mode = .object([(".tag", .string("update")), ("update", .string(rev))])
        case .nothingOfOurs(let rev, let since):
            log.info("backup: Dropbox's \(config.remotePath) moved on since rev \(since) (now rev \(rev)), and this volume has written nothing since; nothing uploaded (the next restart restores rev \(rev))")
            return .done
        case .mergeThenUpload(let rev):
            guard let remote, let record, let base else { return .done }  // decide() returns this case only with all three
            let merged = try mergeIntoLive(remote, record: record, base: base, client: client, restorer: restorer)
            guard case .notMerged(let reason) = merged else { return .mergedRunAgain }
            guard automatic else {
                log.warning(reason)
                try refuse(remote, record)
                return .done
            }
            try uploadBeside(client, snapshot, remote: remote, base: record.rev, why: movedOn(record, rev) + ", and it cannot be merged: " + reason)
            return .done
        case .beside(let rev):
            let why = record.map {
                movedOn($0, rev) + (merge ? ", and it cannot be merged: no base of rev \($0.rev) on this volume (\(BaseCopy.path(for: db)) is missing or describes another state)" : "")
            }
                ?? "(rev \(rev)) is not known to this volume (\(StateRecord.path(for: db)) is missing)"
            try uploadBeside(client, snapshot, remote: remote, base: record?.rev, why: why)
            return .done
        case .refuse:
            if merge, let record {
                log.warning("--merge: no base of rev \(record.rev) on this volume (\(BaseCopy.path(for: db)) is missing or describes another state); not merging")
            }
            try refuse(remote, record)
            return .done
        }

        // Written before the commit: an answer that never arrives leaves it (StateRecord.resolved).
        if var intent = record {
            intent.uploadingContentHash = hash
            intent.uploadingDataHash = dataHash
            try intent.save(db)
        } else {
            try StateRecord.saveUploadNote(db, contentHash: hash, dataHash: dataHash)  // Storage/UploadNote.swift
        }
        let file: RemoteFile
        do throws(EntrypointError) {
            file = try store(client, snapshot, path: config.remotePath, mode: mode)
        } catch {
            // Dropbox's file moved on between the metadata and the commit (update mode refused it).
            // --merge: the next round merges that newer rev.
            if merge && error.code == .conflict { return .mergedRunAgain }
            guard automatic, error.code == .conflict else { throw error }
            let now = try client.metadata(config.remotePath)
            let why = "changed during this backup (rev \(remote?.rev ?? "none"), now \(now.map { "rev " + $0.rev } ?? "no file"))"
            try uploadBeside(client, snapshot, remote: now, base: record?.rev, why: why)
            return .done
        }
        try StateRecord(contentHash: hash, rev: file.rev, size: file.size, event: "uploaded", time: Clock.utcStamp(), dataHash: dataHash).save(db)
        try FailbackRecord.remove(db)
        BaseCopy.keep(tempPath, for: db, log: log)  // the uploaded snapshot: the base of a later merge
        log.info("Backed up \(db) to \(config.remotePath) (rev \(file.rev), \(Progress.bytes(file.size)))")
        return .done
    }

    /// Manual `--backup` when Dropbox's file moved on (or this volume has no record): exit 76.
    /// How the side copy's line says that Dropbox's file moved on since the record's rev.
    func movedOn(_ record: StateRecord, _ rev: String) -> String {
        "changed since this volume's last \(record.event == "uploaded" ? "upload" : record.event == "merged" ? "merge" : "restore") (rev \(record.rev), now rev \(rev))"
    }

    func refuse(_ remote: RemoteFile?, _ record: StateRecord?) throws(EntrypointError) {
        let rev = remote?.rev ?? "?"
        let why = record.map { "it is rev \(rev) (modified \(remote?.serverModified ?? "?")), but this volume last restored rev \($0.rev)" }
            ?? "this volume has no record of restoring it (\(StateRecord.path(for: config.localPath)) is missing)"
        throw EntrypointError(.conflict, "not overwriting \(config.remotePath) in Dropbox: \(why); the main server may have uploaded since. Nothing was changed. Use --backup --force to overwrite it")
    }

    /// The snapshot being uploaded: its open descriptor, size and both hashes.
    struct Snapshot {
        let fd: Int32
        let size: Int64
        let hash: String
        let dataHash: String
        /// The content hash's block digests: the upload session's chunk hashes come from them.
        var blockDigests: [UInt8]? = nil
    }

    /// Uploads the snapshot to `path` with write mode `mode` (autorename off, strict conflicts) and
    /// checks Dropbox's answer against the snapshot's content hash.
    func store(_ client: DropboxClient, _ snapshot: Snapshot, path: String, mode: JSON) throws(EntrypointError) -> RemoteFile {
        let progress = Progress("uploading", total: UInt64(snapshot.size), log: log, interval: config.progressInterval, threshold: config.progressThreshold)
        let commit = JSON.object([
            ("path", .string(path)), ("mode", mode), ("autorename", .bool(false)),
            ("mute", .bool(true)), ("strict_conflict", .bool(true)),
        ])
        return try client.upload(fd: snapshot.fd, size: snapshot.size, contentHash: snapshot.hash, commit: commit, progress: progress, blockDigests: snapshot.blockDigests)
    }

    /// Name collisions tried before giving up on a side copy (each try is a new name, never an overwrite).
    static let sideCopyNames = 10

    /// `--auto` when Dropbox's file is not the one this volume last restored or uploaded (`why`
    /// says how) and no merge was possible: the snapshot goes beside it as
    /// `<stem>.failback-<UTC time><ext>`, so nothing in Dropbox is overwritten and nothing of ours is
    /// dropped. One side copy per volume and divergence (`base`: the record's rev, the state this
    /// volume last shared): a later interval updates that copy in place (update mode on its rev), a
    /// new name is taken only when the copy changed in Dropbox meanwhile. The main record is left as
    /// it is (a later restore still sees the local database as changed and keeps it); the failback
    /// record names the copy and stops the next backup from uploading the same data again.
    func uploadBeside(_ client: DropboxClient, _ snapshot: Snapshot, remote: RemoteFile?, base divergence: String?, why: String) throws(EntrypointError) {
        let main = config.remotePath
        if let previous = FailbackRecord.load(config.localPath), previous.remotePath == main, previous.baseRev == divergence {
            if previous.dataHash == snapshot.dataHash, let there = try client.metadata(previous.path), there.rev == previous.rev {
                log.info("backup: no change since the failback copy \(previous.path) (rev \(previous.rev)); nothing uploaded. Dropbox's \(main) still differs from this volume: reconcile by hand (docs/operations.md)")
                return
            }
            do throws(EntrypointError) {
                let file = try store(client, snapshot, path: previous.path, mode: .object([(".tag", .string("update")), ("update", .string(previous.rev))]))
                log.warning("Dropbox's \(main) \(why): updated this volume's copy beside it, \(previous.path) (rev \(file.rev)); nothing else was overwritten. Reconcile by hand (docs/operations.md, \"The round trip (failback)\")")
                try FailbackRecord(
                    path: previous.path, rev: file.rev, contentHash: snapshot.hash, dataHash: snapshot.dataHash, size: file.size,
                    time: Clock.utcStamp(), remotePath: main, remoteRev: remote?.rev, baseRev: divergence
                ).save(config.localPath)
                return
            } catch where error.code == .conflict {
                log.info("\(previous.path) is no longer this volume's copy (rev \(previous.rev)) in Dropbox; making a new copy beside \(main)")
            }
        }
        // DROPBOX_DB_PATH may be an id: path: the copy goes beside the file's real path then.
        // An ns:<id>/... path keeps its namespace: the copy goes beside it in the same namespace.
        guard let base = main.hasPrefix("/") || main.hasPrefix("ns:") ? main : remote.map(\.pathDisplay), base.hasPrefix("/") || base.hasPrefix("ns:") else {
            throw EntrypointError(.conflict, "Dropbox's \(main) \(why), and Dropbox gave no folder to put a copy beside it (DROPBOX_DB_PATH is an id: path); nothing was uploaded or overwritten")
        }
        let stamp = Clock.utcStamp(compact: true)
        for attempt in 1...Self.sideCopyNames {
            let path = FailbackRecord.sidePath(base, stamp: stamp, attempt: attempt)
            let file: RemoteFile
            do throws(EntrypointError) {
                file = try store(client, snapshot, path: path, mode: .string("add"))
            } catch {
                // `add` refuses a name that holds other content: try the next name, never overwrite.
                guard error.code == .conflict else { throw error }
                log.info("\(path) already exists in Dropbox with other content; trying the next name")
                continue
            }
            log.warning("Dropbox's \(main) \(why): uploaded this database beside it as \(path) (rev \(file.rev)); nothing was overwritten. Reconcile by hand (docs/operations.md, \"The round trip (failback)\")")
            try FailbackRecord(
                path: path, rev: file.rev, contentHash: snapshot.hash, dataHash: snapshot.dataHash, size: file.size,
                time: Clock.utcStamp(), remotePath: main, remoteRev: remote?.rev, baseRev: divergence
            ).save(config.localPath)
            return
        }
        throw EntrypointError(.conflict, "Dropbox's \(main) \(why), and \(Self.sideCopyNames) names for a copy beside it (\(FailbackRecord.sidePath(base, stamp: stamp))...) already exist with other content; nothing was uploaded or overwritten")
    }

    /// Test hook for the supervisor's last resort: ENTRYPOINT_TEST_HANG_AT=snapshot makes a backup hang
    /// here, deaf to SIGTERM, as a worker stuck in a system call would, so only SIGKILL ends it.
    func hangForTest() {
        guard environment["ENTRYPOINT_TEST_HANG_AT"] == "snapshot" else { return }
        bestEffort("a test hook; SIG_ERR is only for an invalid signal number", signal(SIGTERM, SIG_IGN))
        while true { bestEffort("a test hook that hangs until SIGKILL", sleep(1)) }
    }
}
