// --backup: a consistent snapshot of the live database uploaded to DROPBOX_DB_PATH without ever
// overwriting a remote copy that moved on since the last restore.
import CSQLite
import CShims
import Glibc


struct BackupMode {
    let config: Configuration
    let force: Bool
    let environment: [String: String]
    let log: Logger

    /// The largest single upload: the chunk size, at most 148 MiB (under Dropbox's 150 MiB per request).
    var chunk: Int64 { Int64(config.uploadChunk) }

    func run() throws(EntrypointError) {
        let db = config.localPath
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
        let lock = try RestoreLock(database: db, timeout: config.lockTimeout, deadline: restorer.deadline, log: log)
        defer { withExtendedLifetime(lock) {} }

        // Snapshot into a temporary file beside the database.
        let temp: (fd: Int32, path: String)
        do throws(SystemError) {
            temp = try FileIO.createTemporary(near: db, infix: ".entrypoint-backup-", mode: 0o600)
        } catch {
            throw localError("create a temporary file in", FileIO.dirname(db), error.errno)
        }
        FileIO.close(temp.fd)
        defer { for f in [temp.path] + SQLite.sidecarSuffixes.map({ temp.path + $0 }) { _ = unlink(f) } }
        log.info("taking a snapshot of \(db)")
        try SQLite.snapshot(db, to: temp.path)
        do throws(EntrypointError) {
            try SQLite.verify(temp.path, what: "the snapshot of \(db)")
        } catch {
            throw EntrypointError(.localIO, error.message.replacingAll("; nothing was installed", with: "; the local database may be damaged, nothing was uploaded"))
        }
        // The record describes the snapshot itself: its data hash. No hash of the live file is taken
        // after the snapshot: a commit made during or after it changes the live file's data hash, so
        // the next restore sees a local change and keeps it (docs/design.md, "The record").
        let snapshotDataHash: String
        do throws(SystemError) { snapshotDataHash = try DataHash.ofFile(temp.path).data } catch {
            throw localError("read", temp.path, error.errno)
        }

        let fd: Int32
        do throws(SystemError) { fd = try FileIO.open(temp.path, O_RDONLY) } catch { throw localError("open", temp.path, error.errno) }
        defer { FileIO.close(fd) }
        var st = stat()
        fstat(fd, &st)
        let snapshotSize = Int64(st.st_size)
        let hash: String
        do throws(SystemError) { hash = try ContentHash.ofDescriptor(fd, size: snapshotSize) } catch {
            throw localError("read", temp.path, error.errno)
        }
        log.info("snapshot: \(Progress.bytes(UInt64(snapshotSize))), content hash \(hash)")

        let client = try restorer.makeClient()
        let record = StateRecord.load(db)
        let remote = try client.metadata(config.remotePath)
        var mode: JSON
        if let remote {
            if remote.contentHash == hash {
                log.info("Dropbox already has this database (hash match, rev \(remote.rev)); nothing uploaded")
                try StateRecord(contentHash: hash, rev: remote.rev, size: remote.size, event: "uploaded", time: Clock.utcStamp(), dataHash: snapshotDataHash).save(db)
                return
            }
            if force {
                log.warning("--force: overwriting \(config.remotePath) (rev \(remote.rev)) regardless of its history")
                mode = .string("overwrite")
            } else if let record, record.rev == remote.rev {
                mode = .object([(".tag", .string("update")), ("update", .string(record.rev))])
            } else {
                let why = record.map { "it is rev \(remote.rev) (modified \(remote.serverModified)), but this volume last restored rev \($0.rev)" }
                    ?? "this volume has no record of restoring it (\(StateRecord.path(for: db)) is missing)"
                throw EntrypointError(.conflict, "not overwriting \(config.remotePath) in Dropbox: \(why); the main server may have uploaded since. Nothing was changed. Use --backup --force to overwrite it")
            }
        } else {
            mode = .string("add")
        }

        let progress = Progress("uploading", total: UInt64(snapshotSize), log: log, interval: config.progressInterval, threshold: config.progressThreshold)
        let commit = JSON.object([
            ("path", .string(config.remotePath)), ("mode", mode), ("autorename", .bool(false)),
            ("mute", .bool(true)), ("strict_conflict", .bool(true)),
        ])
        let file = try client.upload(fd: fd, size: snapshotSize, contentHash: hash, commit: commit, progress: progress)
        try StateRecord(contentHash: hash, rev: file.rev, size: file.size, event: "uploaded", time: Clock.utcStamp(), dataHash: snapshotDataHash).save(db)
        log.info("Backed up \(db) to \(config.remotePath) (rev \(file.rev), \(Progress.bytes(file.size)))")
    }
}
