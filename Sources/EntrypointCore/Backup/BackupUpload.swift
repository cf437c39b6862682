// The upload of a backup's snapshot to DROPBOX_DB_PATH (docs/design.md, "The backup", steps 6-7):
// the upload-in-progress note first (UploadNote.swift: a lost answer is then recognised), the
// upload in the decision's write mode (Dropbox/Upload.swift), then the record and the base. A 409
// on the rev-guarded commit means Dropbox's file moved on meanwhile: `--merge` merges that newer
// rev in the next round, `--auto` keeps this volume's data beside it (SideCopy.swift).

extension BackupRun {
    /// Uploads `snapshot` over DROPBOX_DB_PATH with write mode `mode` (add, update on a rev, or
    /// overwrite); the record and the base then describe the uploaded snapshot.
    func upload(_ snapshot: Snapshot, mode: JSON, remote: RemoteFile?, record: StateRecord?, client: DropboxClient) throws(EntrypointError) -> Outcome {
        // Written before the commit: an answer that never arrives leaves it (StateRecord.resolved).
        if var intent = record {
            intent.uploadingContentHash = snapshot.hash
            intent.uploadingDataHash = snapshot.dataHash
            try intent.save(db)
        } else {
            try StateRecord.saveUploadNote(db, contentHash: snapshot.hash, dataHash: snapshot.dataHash)  // Backup/UploadNote.swift
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
        try StateRecord(contentHash: snapshot.hash, rev: file.rev, size: file.size, event: "uploaded", time: Clock.utcStamp(), dataHash: snapshot.dataHash)
            .save(db)
        try FailbackRecord.remove(db)
        removeOlderBase()  // the record's rev (this upload) is the base of a later merge
        log.info("Backed up \(db) to \(config.remotePath) (rev \(file.rev), \(Progress.bytes(file.size)))")
        return .done
    }

    /// Uploads the snapshot to `path` with write mode `mode` (autorename off, strict conflicts) and
    /// checks Dropbox's answer against the snapshot's content hash.
    func store(_ client: DropboxClient, _ snapshot: Snapshot, path: String, mode: JSON) throws(EntrypointError) -> RemoteFile {
        let progress = Progress("uploading", total: UInt64(snapshot.size), log: log, interval: config.progressInterval, threshold: config.progressThreshold)
        let commit = JSON.object([
            ("path", .string(path)), ("mode", mode), ("autorename", .bool(false)),
            ("mute", .bool(true)), ("strict_conflict", .bool(true)),
        ])
        switch snapshot.bytes {
        case .file(let fd, _):
            return try client.upload(
                fd: fd, size: snapshot.size, contentHash: snapshot.hash, commit: commit, progress: progress, blockDigests: snapshot.blockDigests)
        case .stream(let reader, let first):
            // Through one chunk in memory (at most StreamTuning.chunk); the commit waits for the
            // stream's own checks (pass 2 is pass 1: page 1 and the size) and sends the last chunk.
            let hooks = scope.hooks
            return try client.uploadStream(
                size: first.size, contentHash: first.contentHash, blockDigests: first.blockDigests, commit: commit, progress: progress,
                chunk: min(config.uploadChunk, StreamTuning.chunk), giveWay: { reader.giveWay.now() },
                afterSend: { sent in
                    guard sent == 1 else { return }  // the first chunk Dropbox took
                    hooks.crash(at: "stream-sent")
                    hooks.pause(at: "stream-sent")
                },
                beforeCommit: { () throws(EntrypointError) in hooks.crash(at: "stream-checked") },
                produce: { (sink) throws(EntrypointError) in try reader.stream(first, sink: sink) })
        }
    }
}

/// How a streamed backup holds its bytes.
enum StreamTuning {
    /// The chunk of a streamed upload held in memory (ENTRYPOINT_UPLOAD_CHUNK_MB when smaller): the
    /// retry of a request resends it from here. 8 MiB keeps the process's memory under 16 MiB.
    static let chunk = 8 << 20
}
