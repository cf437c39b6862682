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
        // The live file's hash now, so the next restore can tell whether the app wrote after the backup.
        let liveHash = try? ContentHash.ofFile(db)

        let fd: Int32
        do throws(SystemError) { fd = try FileIO.open(temp.path, O_RDONLY) } catch { throw localError("open", temp.path, error.errno) }
        defer { FileIO.close(fd) }
        var st = stat()
        fstat(fd, &st)
        let snapshotSize = Int64(st.st_size)
        let hash: String
        Exec.testSignal("backup-hash", environment)
        do throws(SystemError) { hash = try ContentHash.ofDescriptor(fd, size: snapshotSize) } catch {
            throw error.localError("read", temp.path)  // a Ctrl-C here is 130, not 74
        }
        log.info("snapshot: \(Progress.bytes(UInt64(snapshotSize))), content hash \(hash)")

        let client = try restorer.makeClient()
        let record = StateRecord.load(db)
        let remote = try client.metadata(config.remotePath)
        var mode: JSON
        if let remote {
            if remote.contentHash == hash {
                log.info("Dropbox already has this database (hash match, rev \(remote.rev)); nothing uploaded")
                try StateRecord(contentHash: hash, rev: remote.rev, size: remote.size, event: "uploaded", time: Clock.utcStamp(), localHash: liveHash).save(db)
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
        let uploaded: JSON
        if snapshotSize <= chunk {
            uploaded = try upload(client, route: "files/upload", arg: commitArg(commit, hash: hash), fd: fd, offset: 0, length: snapshotSize, progress: progress)
        } else {
            uploaded = try session(client, fd: fd, size: snapshotSize, commit: commit, progress: progress)
        }
        progress.finish(UInt64(snapshotSize))
        guard let file = RemoteFile(uploaded), file.contentHash == hash else {
            throw EntrypointError(.badRemoteData, "after the upload Dropbox reports content hash \(uploaded["content_hash"]?.string ?? "none"), expected \(hash); check \(config.remotePath) in Dropbox")
        }
        try StateRecord(contentHash: hash, rev: file.rev, size: file.size, event: "uploaded", time: Clock.utcStamp(), localHash: liveHash).save(db)
        log.info("Backed up \(db) to \(config.remotePath) (rev \(file.rev), \(Progress.bytes(file.size)))")
    }

    func commitArg(_ commit: JSON, hash: String) -> JSON {
        guard case .object(var members) = commit else { return commit }
        members.append(("content_hash", .string(hash)))
        return .object(members)
    }

    /// One upload call streaming `length` bytes of `fd` from `offset`; returns the JSON answer.
    func upload(
        _ client: DropboxClient, route: String, arg: JSON, fd: Int32, offset: Int64, length: Int64, progress: Progress
    ) throws(EntrypointError) -> JSON {
        let header = "Dropbox-API-Arg: " + arg.encoded(asciiOnly: true)
        let response = try client.send(
            route, host: config.contentURL,
            headers: { [header, "Content-Type: application/octet-stream"] },
            body: { .file(fd: fd, offset: offset, length: length) },
            progress: { sent, _ in progress.update(UInt64(offset) + UInt64(max(0, sent))) })
        if response.status == 200 { return response.json ?? .null }
        let summary = DropboxClient.summary(response)
        if response.status == 409 {
            if summary.contains("conflict") {
                throw EntrypointError(.conflict, "Dropbox refused the upload to \(config.remotePath): \(summary) (the remote file changed since the last restore); nothing was overwritten. Use --backup --force to overwrite it")
            }
            if let correct = response.json?["error"]?["correct_offset"]?.uint64 ?? response.json?["error"]?["lookup_failed"]?["correct_offset"]?.uint64 {
                throw OffsetMismatch.error(correct)
            }
            throw EntrypointError(.unavailable, "\(route): HTTP 409 \(summary)")
        }
        throw client.failure(route, response)
    }

    /// An upload session: start, append in chunks (multiples of 4 MiB), finish with the commit.
    /// An `incorrect_offset` answer moves the cursor to Dropbox's `correct_offset` and goes on.
    func session(_ client: DropboxClient, fd: Int32, size: Int64, commit: JSON, progress: Progress) throws(EntrypointError) -> JSON {
        func chunkHash(_ offset: Int64, _ length: Int64) throws(EntrypointError) -> String {
            do throws(SystemError) { return try ContentHash.ofDescriptor(fd, offset: offset, size: length) } catch {
                throw error.localError("read", "the snapshot")
            }
        }
        let first = min(chunk, size)
        let started = try upload(
            client, route: "files/upload_session/start",
            arg: .object([("close", .bool(false)), ("content_hash", .string(try chunkHash(0, first)))]),
            fd: fd, offset: 0, length: first, progress: progress)
        guard let sessionID = started["session_id"]?.string else {
            throw EntrypointError(.unavailable, "upload_session/start answered without a session_id")
        }
        var offset = first
        var corrections = 0
        while true {
            let length = min(chunk, size - offset)
            let last = offset + length >= size
            let cursor = JSON.object([("session_id", .string(sessionID)), ("offset", .number(Double(offset)))])
            do throws(EntrypointError) {
                if last {
                    let arg = JSON.object([("cursor", cursor), ("commit", commit), ("content_hash", .string(try chunkHash(offset, length)))])
                    return try upload(client, route: "files/upload_session/finish", arg: arg, fd: fd, offset: offset, length: length, progress: progress)
                }
                let arg = JSON.object([("cursor", cursor), ("close", .bool(false)), ("content_hash", .string(try chunkHash(offset, length)))])
                _ = try upload(client, route: "files/upload_session/append_v2", arg: arg, fd: fd, offset: offset, length: length, progress: progress)
                offset += length
            } catch {
                guard let correct = OffsetMismatch.offset(error) else { throw error }
                corrections += 1
                guard corrections <= 10, correct <= UInt64(size) else {
                    throw EntrypointError(.unavailable, "upload session: Dropbox keeps reporting incorrect_offset (now \(correct))")
                }
                log.warning("upload session: Dropbox has \(correct) bytes, not \(offset); continuing from there")
                offset = Int64(correct)
            }
        }
    }
}

/// `incorrect_offset` travels through the typed-throws path as a tagged EntrypointError.
enum OffsetMismatch {
    static let tag = "incorrect_offset:"
    static func error(_ correct: UInt64) -> EntrypointError { EntrypointError(.unavailable, tag + String(correct)) }
    static func offset(_ error: EntrypointError) -> UInt64? {
        guard error.message.hasPrefix(tag) else { return nil }
        return UInt64(error.message.dropFirst(tag.count))
    }
}
