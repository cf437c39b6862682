// One backup (docs/design.md, "The backup"): a consistent snapshot of the live database beside it
// (Snapshot.swift), checked and hashed while Dropbox's metadata is fetched, then what the pure
// decision (BackupDecision.swift) says: nothing to upload, upload it rev-guarded (BackupUpload.swift),
// merge Dropbox's newer rev into the live database first (MergeOnUpload.swift), keep this volume's
// data beside Dropbox's file (SideCopy.swift, `--auto`), or refuse (76). `run` is the checklist.
import CShims
import Glibc

struct BackupRun {
    /// What this run shares with the other modes; its deadline is the backup's (or, for the
    /// supervisor's stop backup, what was left of the stop deadline).
    let scope: RunScope
    let force: Bool
    /// `--backup --auto`: never overwrite, never give up (docs/design.md, "Automatic backups").
    var automatic = false
    /// `--backup --merge`: Dropbox's file moved on since the base: merge, then upload (MergeOnUpload).
    var merge = false

    var config: Configuration { scope.config }
    var log: Logger { scope.log }
    var db: String { config.localPath }

    /// What a backup did: done (uploaded, nothing to do, or beside), or merged Dropbox's newer rev
    /// into the local database, so the caller runs it again to upload the result over that rev.
    enum Outcome { case done, mergedRunAgain }
    /// Merges in one `--backup --merge` before it gives up (Dropbox kept moving on).
    static let mergeRounds = 3

    /// The snapshot being uploaded: where its bytes are, its size and both hashes.
    struct Snapshot {
        /// A temporary copy on the volume (a rollback-journal database), or the stream of a WAL
        /// database's read transaction with what its first pass learned (SnapshotReader.swift).
        enum Bytes {
            case file(fd: Int32, path: String)
            case stream(SnapshotReader, SQLite.StreamedSnapshot)
        }
        let bytes: Bytes
        let size: Int64
        let hash: String
        let dataHash: String
        /// The content hash's block digests: the upload session's chunk hashes come from them.
        var blockDigests: [UInt8]? = nil
    }

    @discardableResult
    func run() throws(EntrypointError) -> Outcome {
        // A worker on a terminal runs in a background process group: with `stty tostop` its first log
        // line would stop it (SIGTTOU) until the supervisor's deadline. It writes its lines anyway.
        if automatic { bestEffort("SIG_ERR is only for an invalid signal number", signal(SIGTTOU, SIG_IGN)) }
        try checkDatabase()
        let lock = try scope.lock()
        defer { withExtendedLifetime(lock) {} }
        log.info("taking a snapshot of \(db)")
        scope.hooks.hang(at: "snapshot")
        // A WAL database streams its snapshot into the upload (nothing on the volume); a
        // rollback-journal database is copied into a temporary file first (docs/design.md).
        if let reader = try SnapshotReader.begin(db, deadline: scope.deadline, lockTimeout: config.lockTimeout, reserve: config.backupReserve, log: log) {
            do throws(EntrypointError) {
                return try runStreamed(reader)
            } catch  where error.cause == .gaveWay {
                // The app's commits would wait (a blocking checkpoint) or find the volume full (the
                // WAL grows behind the reader): end the read transaction now (Backup/CheckpointWatch.swift).
                reader.abandon()
                log.warning(
                    "\(reader.giveWay.reason ?? "the app needed the read transaction gone"): the backup gave way; nothing was committed, copying the database instead"
                )
            }
        }
        return try runFromCopy()
    }

    /// A rollback-journal database: a consistent copy into a temporary file beside it, checked and
    /// hashed while Dropbox's metadata is fetched, then decided on and uploaded from that file.
    func runFromCopy() throws(EntrypointError) -> Outcome {
        // Snapshot into a temporary file beside the database, only when the volume has room for it.
        try FreeSpace.check(db, reserve: config.backupReserve)
        let db = db
        let temp = try FileIO.operation("create a temporary file in", FileIO.dirname(db)) { () throws(SystemError) in
            try FileIO.createTemporary(near: db, infix: ".entrypoint-backup-", mode: 0o600)
        }
        let tempPath = temp.path  // removed with `temp` when this scope ends; its sidecars here:
        defer { for f in SQLite.sidecarSuffixes.map({ tempPath + $0 }) { FileIO.removeBestEffort(f) } }
        temp.descriptor.close()  // SQLite writes the snapshot through its own connection
        try takeSnapshot(into: tempPath)

        // Declared before `hashing`: closed after its join below, on every path.
        let snapshotFile = try FileIO.operation("open", tempPath) { () throws(SystemError) in try FileDescriptor.open(tempPath, O_RDONLY) }
        let fd = snapshotFile.raw
        let size = try FileIO.operation("stat", tempPath) { () throws(SystemError) in try FileIO.size(fd) }
        // The snapshot's hashes are computed on their own threads while it is checked, the client is
        // made and the metadata fetched (none needs another). The lines and errors are those of the old
        // order: a failed check first (the hash is then cancelled), then a failed hash, and the snapshot
        // line before the network's error.
        scope.hooks.signal(at: "backup-hash")
        let hashing = BackgroundDataHash(fd: fd, size: size)
        defer { hashing.cancel() }  // joined before `fd` is closed, on every path
        try SQLite.verify(
            tempPath, what: "the snapshot of \(db)", code: .localIO, consequence: "the local database may be damaged, nothing was uploaded")
        let (client, remote) = try connect(whileHashing: hashing, tempPath, size: size)
        let (hash, dataHash, blocks) = try hashes(hashing, tempPath, size: size)
        let snapshot = Snapshot(bytes: .file(fd: fd, path: tempPath), size: size, hash: hash, dataHash: dataHash, blockDigests: blocks)
        return try decideAndAct(snapshot, client: client, remote: remote)
    }

    /// A WAL database: pass 1 hashes the read transaction's state, quick_check checks it, then the
    /// decision; an upload streams pass 2 from the same read transaction (SnapshotReader.swift).
    func runStreamed(_ reader: SnapshotReader) throws(EntrypointError) -> Outcome {
        scope.hooks.signal(at: "backup-hash")
        let first = try reader.hashPass()
        try reader.quickCheck()
        log.info(
            "snapshot: \(Progress.bytes(UInt64(first.size))), content hash \(first.contentHash) (streamed from one read transaction; no copy on the volume)")
        scope.hooks.crash(at: "stream-hashed")
        let client = try scope.makeClient()
        let remote = try client.metadata(config.remotePath)
        let snapshot = Snapshot(
            bytes: .stream(reader, first), size: first.size, hash: first.contentHash, dataHash: first.dataHash, blockDigests: first.blockDigests)
        let outcome = try decideAndAct(snapshot, client: client, remote: remote)
        try reader.end()
        return outcome
    }

    /// The record, the pure decision (BackupDecision.swift), and what it leads to.
    func decideAndAct(_ snapshot: Snapshot, client: DropboxClient, remote: RemoteFile?) throws(EntrypointError) -> Outcome {
        // The record describes the snapshot itself: its data hash. No hash of the live file is taken
        // after the snapshot: a commit made during or after it changes the live file's data hash, so
        // the next restore sees a local change and keeps it (docs/design.md, "The record").
        let record = StateRecord.load(db, resolvedAgainst: remote)
        // The base is hashed only when a merge is asked for and possible (a full read: once per run);
        // without a proven copy on the volume, the record's rev is the base (Restore/BaseFetch.swift).
        let mergeable = merge && record != nil && remote != nil && remote?.rev != record?.rev
        let base = mergeable ? BaseSource.choose(proven: BaseCopy.proven(for: db, record: record), record: record) : nil
        let decision = BackupDecision.decide(
            remote: remote, record: record, contentHash: snapshot.hash, dataHash: snapshot.dataHash, force: force, automatic: automatic, merge: merge,
            baseAvailable: base != nil)
        let mode: JSON
        switch try act(on: decision, snapshot, remote: remote, record: record, base: base, client: client) {
        case .finished(let outcome): return outcome
        case .upload(let how): mode = how
        }
        return try upload(snapshot, mode: mode, remote: remote, record: record, client: client)
    }

    /// After Dropbox holds this snapshot: no base is kept on the volume (a copied snapshot is
    /// removed like a streamed one leaves nothing), an older base is removed, and the record's rev
    /// is the base of a later merge (downloaded by rev, Restore/BaseFetch.swift). Keeping the copy
    /// cost a file as large as the database on the volume for good, and replacing the previous one
    /// freed as much at every backup: 2.4 s per GiB here, in the journal commit that discards it.
    func removeOlderBase() {
        BaseCopy.removeStale(for: db, log: log)
    }

    /// Credentials, and a non-empty SQLite database to back up (exit 78 otherwise).
    func checkDatabase() throws(EntrypointError) {
        guard config.credentials != .none else {
            throw EntrypointError(.config, "--backup needs Dropbox credentials (DROPBOX_ACCESS_TOKEN, or DROPBOX_APP_KEY + DROPBOX_REFRESH_TOKEN)")
        }
        guard let size = try scope.localSize(), size > 0 else {
            throw EntrypointError(.config, "nothing to back up: \(db) does not exist or is empty (RAILWAY_DB_PATH)")
        }
        guard SQLite.hasHeader(db) else {
            throw EntrypointError(.config, "\(db) is not a SQLite database; not uploading it")
        }
    }

    /// The consistent snapshot of the live database into `path` (Snapshot.swift), within the run's deadline.
    func takeSnapshot(into path: String) throws(EntrypointError) {
        let deadline = scope.deadline
        try SQLite.snapshot(db, to: path, deadline: deadline.instant, deadlineName: deadline.description, lockTimeout: config.lockTimeout, log: log)
    }

    /// The snapshot's hashes, once its background hash is done (logged with the snapshot's size).
    func hashes(_ hashing: BackgroundDataHash, _ path: String, size: Int64) throws(EntrypointError) -> (content: String, data: String, blocks: [UInt8]) {
        let all: (content: String, data: String, blocks: [UInt8])
        do throws(SystemError) { all = try hashing.waitWithBlocks() } catch {
            throw error.localError("read", path)  // a Ctrl-C here is 130, not 74
        }
        log.info("snapshot: \(Progress.bytes(UInt64(size))), content hash \(all.content)")
        return all
    }

    /// The client and Dropbox's metadata of DROPBOX_DB_PATH, while the snapshot is hashed. A failed
    /// hash is the line before the network's error; but a stop signal stops the hash too (EINTR):
    /// then the network's error (the signal) is the line.
    func connect(whileHashing hashing: BackgroundDataHash, _ path: String, size: Int64) throws(EntrypointError) -> (DropboxClient, RemoteFile?) {
        do throws(EntrypointError) {
            let client = try scope.makeClient()
            return (client, try client.metadata(config.remotePath))
        } catch {
            let network = error
            do throws(EntrypointError) { _ = try hashes(hashing, path, size: size) } catch { if Signals.pending == 0 { throw error } }
            throw network
        }
    }

    /// What a decision leads to: the backup is over (with its outcome), or the snapshot is uploaded
    /// to DROPBOX_DB_PATH in this write mode.
    enum Step {
        case finished(Outcome)
        case upload(mode: JSON)
    }

    /// The decision's consequence (Backup/BackupDecision.swift). --auto: the data is what Dropbox still
    /// has at the record's rev: nothing to upload. (When Dropbox's file moved on, even unchanged data
    /// goes beside it: the record's rev may be this volume's own upload, which someone else's upload
    /// has just replaced.)
    func act(
        on decision: BackupDecision, _ snapshot: Snapshot, remote: RemoteFile?, record: StateRecord?, base: BaseSource?, client: DropboxClient
    ) throws(EntrypointError) -> Step {
        switch decision {
        case .nothingToUpload(let rev):
            // A record resolved against Dropbox's file (a lost answer, Backup/UploadNote.swift) is written down.
            if let record, record != StateRecord.load(db) { try record.save(db) }
            log.info("backup: no change since rev \(rev); nothing uploaded")
        case .alreadyThere(let rev):
            log.info("Dropbox already has this database (hash match, rev \(rev)); nothing uploaded")
            try StateRecord(
                contentHash: snapshot.hash, rev: rev, size: remote?.size ?? UInt64(snapshot.size), event: "uploaded", time: Clock.utcStamp(),
                dataHash: snapshot.dataHash
            ).save(db)
            try FailbackRecord.remove(db)
            removeOlderBase()
        case .add:
            return .upload(mode: .string("add"))
        case .overwrite(let rev):
            log.warning("--force: overwriting \(config.remotePath) (rev \(rev)) regardless of its history")
            return .upload(mode: .string("overwrite"))
        case .update(let rev):
            return .upload(mode: .object([(".tag", .string("update")), ("update", .string(rev))]))
        case .nothingOfOurs(let rev, let since):
            log.info(
                "backup: Dropbox's \(config.remotePath) moved on since rev \(since) (now rev \(rev)), and this volume has written nothing since; nothing uploaded (the next restart restores rev \(rev))"
            )
        case .mergeThenUpload(let rev):
            guard let remote, let record, let base else { break }  // decide() returns this case only with all three
            let merged = try mergeIntoLive(remote, record: record, base: base, client: client)
            guard case .notMerged(let reason) = merged else { return .finished(.mergedRunAgain) }
            guard automatic else {
                log.warning(reason)
                try refuse(remote, record)
                break
            }
            try uploadBeside(client, snapshot, remote: remote, base: record.rev, why: movedOn(record, rev) + ", and it cannot be merged: " + reason)
        case .beside(let rev):
            // `--auto` merges, and with a record a base can always be tried (the record's rev,
            // BaseSource.choose): a side copy decided here means the volume has no record. (A merge
            // that is refused, or whose base Dropbox no longer has, goes beside in `.mergeThenUpload`.)
            let why = record.map { movedOn($0, rev) } ?? "(rev \(rev)) is not known to this volume (\(StateRecord.path(for: db)) is missing)"
            try uploadBeside(client, snapshot, remote: remote, base: record?.rev, why: why)
        case .refuse:
            try refuse(remote, record)
        }
        return .finished(.done)
    }

    /// How the side copy's line says that Dropbox's file moved on since the record's rev.
    func movedOn(_ record: StateRecord, _ rev: String) -> String {
        "changed since this volume's last \(record.event == "uploaded" ? "upload" : record.event == "merged" ? "merge" : "restore") (rev \(record.rev), now rev \(rev))"
    }

    /// Manual `--backup` when Dropbox's file moved on (or this volume has no record): exit 76.
    func refuse(_ remote: RemoteFile?, _ record: StateRecord?) throws(EntrypointError) {
        let rev = remote?.rev ?? "?"
        let why =
            record.map { "it is rev \(rev) (modified \(remote?.serverModified ?? "?")), but this volume last restored rev \($0.rev)" }
            ?? "this volume has no record of restoring it (\(StateRecord.path(for: config.localPath)) is missing)"
        throw EntrypointError(
            .conflict,
            "not overwriting \(config.remotePath) in Dropbox: \(why); the main server may have uploaded since. Nothing was changed. Use --backup --force to overwrite it"
        )
    }
}
