// The upload of a backup's snapshot to DROPBOX_DB_PATH (docs/design.md, "The backup", steps 6-7):
// the upload-in-progress note first (UploadNote.swift: a lost answer is then recognised), the
// upload in the decision's write mode (Dropbox/Upload.swift), then the record and the base. A 409
// on the rev-guarded commit means Dropbox's file moved on meanwhile: `--merge` merges that newer
// rev in the next round, `--auto` keeps this volume's data beside it (SideCopy.swift).

extension BackupRun {
    /// Uploads `snapshot` over DROPBOX_DB_PATH with write mode `mode` (add, update on a rev, or
    /// overwrite); the record and the base then describe the uploaded snapshot.
    func upload(
        _ snapshot: Snapshot, mode: JSON, remote: RemoteFile?, record: StateRecord?, client: DropboxClient, snapshotPath: String
    ) throws(EntrypointError) -> Outcome {
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
        BaseCopy.keep(snapshotPath, for: db, log: log)  // the uploaded snapshot: the base of a later merge
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
        return try client.upload(
            fd: snapshot.fd, size: snapshot.size, contentHash: snapshot.hash, commit: commit, progress: progress, blockDigests: snapshot.blockDigests)
    }
}
