// The side copy (docs/design.md, "Automatic backups"): when Dropbox's file is not the one this
// volume last shared and no merge is possible, `--backup --auto` uploads its snapshot beside it as
// `<stem>.failback-<UTC time><ext>` (one per divergence, updated in place), recorded in
// `<db>.entrypoint-failback.json` (FailbackRecord.swift), so nothing in Dropbox is overwritten and
// nothing of this volume's is dropped.

extension BackupRun {
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
                log.info(
                    "backup: no change since the failback copy \(previous.path) (rev \(previous.rev)); nothing uploaded. Dropbox's \(main) still differs from this volume: reconcile by hand (docs/operations.md)"
                )
                return
            }
            do throws(EntrypointError) {
                let file = try store(client, snapshot, path: previous.path, mode: .object([(".tag", .string("update")), ("update", .string(previous.rev))]))
                log.warning(
                    "Dropbox's \(main) \(why): updated this volume's copy beside it, \(previous.path) (rev \(file.rev)); nothing else was overwritten. Reconcile by hand (docs/operations.md, \"The round trip (failback)\")"
                )
                try FailbackRecord(
                    path: previous.path, rev: file.rev, contentHash: snapshot.hash, dataHash: snapshot.dataHash, size: file.size,
                    time: Clock.utcStamp(), remotePath: main, remoteRev: remote?.rev, baseRev: divergence
                ).save(config.localPath)
                return
            } catch  where error.code == .conflict {
                log.info("\(previous.path) is no longer this volume's copy (rev \(previous.rev)) in Dropbox; making a new copy beside \(main)")
            }
        }
        // DROPBOX_DB_PATH may be an id: path: the copy goes beside the file's real path then.
        // An ns:<id>/... path keeps its namespace: the copy goes beside it in the same namespace.
        guard let base = main.hasPrefix("/") || main.hasPrefix("ns:") ? main : remote.map(\.pathDisplay), base.hasPrefix("/") || base.hasPrefix("ns:") else {
            throw EntrypointError(
                .conflict,
                "Dropbox's \(main) \(why), and Dropbox gave no folder to put a copy beside it (DROPBOX_DB_PATH is an id: path); nothing was uploaded or overwritten"
            )
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
            log.warning(
                "Dropbox's \(main) \(why): uploaded this database beside it as \(path) (rev \(file.rev)); nothing was overwritten. Reconcile by hand (docs/operations.md, \"The round trip (failback)\")"
            )
            try FailbackRecord(
                path: path, rev: file.rev, contentHash: snapshot.hash, dataHash: snapshot.dataHash, size: file.size,
                time: Clock.utcStamp(), remotePath: main, remoteRev: remote?.rev, baseRev: divergence
            ).save(config.localPath)
            return
        }
        throw EntrypointError(
            .conflict,
            "Dropbox's \(main) \(why), and \(Self.sideCopyNames) names for a copy beside it (\(FailbackRecord.sidePath(base, stamp: stamp))...) already exist with other content; nothing was uploaded or overwritten"
        )
    }
}
