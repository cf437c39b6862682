// Installing a verified download: keep a changed local database as a copy, move sidecars, rename,
// fsync, write the record, prune old copies (docs/design.md, "the order of file operations").
import CShims
import Glibc

/// A downloaded revision, verified, in its temporary file beside the database (removed when this
/// goes out of scope unless it was installed).
struct VerifiedDownload: ~Copyable {
    var removal: RemovalOnExit
    /// The data hash of the bytes written (for the record).
    let dataHash: String
    var path: String { removal.path }
}

extension Restorer {
    /// Download → verify → keep a copy of a changed local database → rename over it → fsync.
    func install(_ remote: RemoteFile, client: DropboxClient, keepLocal: Bool, reason: DownloadReason) throws(EntrypointError) -> String? {
        let download = try RevisionFetch(scope: scope).downloadVerified(remote, client: client)
        return try installVerified(download, remote: remote, keepLocal: keepLocal, reason: reason)
    }

    /// Steps 8-13: keep a copy of a changed local database, move its sidecars, rename the verified
    /// download over it, fsync, write the record, prune old copies.
    func installVerified(_ download: consuming VerifiedDownload, remote: RemoteFile, keepLocal: Bool, reason: DownloadReason) throws(EntrypointError) -> String?
    {
        let path = download.path
        let dataHash = download.dataHash
        crashPoint("verified")
        // No copy of the download is kept as the base (a second full write on every cold start):
        // the record's rev is the base, downloaded again only by a merge (Restore/BaseFetch.swift).
        var keptCopy: String?
        if keepLocal {
            if config.keepCopies > 0 {
                keptCopy = try keepCopy()
                log.warning("KEPT A COPY of the local database: \(RestoreDecision.copyReason(reason, remote: remote)); the old database is now \(keptCopy!)")
            } else {
                log.warning(
                    "replacing the local database without keeping a copy (ENTRYPOINT_KEEP_COPIES=0): \(RestoreDecision.copyReason(reason, remote: remote))")
            }
        }
        crashPoint("before-sidecars")
        // No sidecar of the old database may sit beside the new one, at any instant.
        for sidecar in SQLite.sidecars(db) {
            try FileIO.operation(keptCopy == nil ? "remove" : "move", sidecar) { () throws(SystemError) in
                if let copy = keptCopy {
                    try FileIO.rename(sidecar, copy + String(sidecar.dropFirst(db.count)))
                } else {
                    try FileIO.unlinkIfPresent(sidecar)
                }
                crashPoint("sidecar-moved")
            }
        }
        crashPoint("before-rename")
        try FileIO.operation("rename \(path) over", db) { () throws(SystemError) in try FileIO.rename(path, db) }
        download.removal.keep()
        crashPoint("after-rename")
        try FileIO.operation("sync the directory", directory) { () throws(SystemError) in try FileIO.fsyncDirectory(directory) }
        crashPoint("before-record")
        try StateRecord(contentHash: remote.contentHash, rev: remote.rev, size: remote.size, event: "restored", time: Clock.utcStamp(), dataHash: dataHash)
            .save(db)
        crashPoint("after-record")
        // A base left by an earlier upload or merge describes another state than the new record:
        // never used again (BaseCopy.proven), so its space is given back.
        BaseCopy.removeStale(for: db, log: log)
        pruneCopies()
        return keptCopy
    }

    /// Keeps the current local database as `<db>.local-<UTC time>`: a hard link (free, atomic) when
    /// the file system allows it, a full copy otherwise. The full copy is written to a temporary
    /// (`<db>.entrypoint-download-copy-<random>`, removed with the other temporaries if a start is
    /// killed meanwhile), fsynced and renamed, so a `.local-` name always holds a complete copy.
    func keepCopy() throws(EntrypointError) -> String {
        var copy = db + copyInfix + Clock.utcStamp(compact: true)
        var n = 1
        while FileIO.exists(copy) {
            n += 1
            copy = db + copyInfix + Clock.utcStamp(compact: true) + "-\(n)"
        }
        try FileIO.operation("keep a copy of the local database as", copy) { () throws(SystemError) in
            do throws(SystemError) {
                // Test hook: behave as a file system without hard links (vfat, some FUSE and network mounts).
                if environment["ENTRYPOINT_TEST_NO_HARD_LINKS"] == "1" { throw SystemError(errno: EPERM, call: "link") }
                try FileIO.link(db, copy)
            } catch  where [EXDEV, EPERM, ENOTSUP, EMLINK].contains(error.errno) {
                try FileIO.copyFile(db, copy, near: db, infix: tempInfix + "copy-", mode: databaseMode) { crashPoint("copying") }
            }
            try FileIO.fsyncDirectory(directory)
        }
        return copy
    }

    /// Keeps the newest ENTRYPOINT_KEEP_COPIES copies (with their sidecars), removes older ones.
    /// Copies are counted as files, not names: names that are hard links of one file (a start killed
    /// after keeping a copy links the same database again) count once, and are kept or removed
    /// together, so they never push out an older, distinct copy. A file's age is its newest name's
    /// time; a name that cannot be identified (stat fails) is left alone.
    func pruneCopies() {
        let prefix = FileIO.basename(db) + copyInfix
        let names = FileIO.listDirectory(directory)
            .filter { $0.hasPrefix(prefix) && !SQLite.sidecarSuffixes.contains(where: $0.hasSuffix) }
            .sorted()
        struct Identity: Hashable {
            let device: UInt64
            let inode: UInt64
        }
        var newestFirst: [Identity] = []
        var namesOf: [Identity: [String]] = [:]
        for name in names.reversed() {
            guard let st = FileIO.statIfPresent(directory + "/" + name) else { continue }
            let id = Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
            if namesOf[id] == nil { newestFirst.append(id) }
            namesOf[id, default: []].append(name)
        }
        guard newestFirst.count > config.keepCopies else { return }
        for id in newestFirst.dropFirst(config.keepCopies) {
            for name in namesOf[id] ?? [] {
                let path = directory + "/" + name
                for file in [path] + SQLite.sidecarSuffixes.map({ path + $0 }) { try? FileIO.unlinkIfPresent(file) }
                log.info("removed the old copy \(path) (ENTRYPOINT_KEEP_COPIES=\(config.keepCopies))")
            }
        }
    }
}

extension RevisionFetch {
    /// Steps 1-7 of the install (docs/design.md): the checked rev downloaded into a temporary file
    /// beside the database, fsynced, closed and verified.
    func downloadVerified(_ remote: RemoteFile, client: DropboxClient) throws(EntrypointError) -> VerifiedDownload {
        let mode = databaseMode
        var temp = try FileIO.operation("create a temporary file in", directory) { () throws(SystemError) in
            try FileIO.createTemporary(near: db, infix: Self.tempInfix, mode: mode)
        }
        let fd = temp.descriptor.raw
        // Reserve the space up front: a full volume fails here, before any byte is downloaded.
        if remote.size > 0 {
            let rc = posix_fallocate(fd, 0, off_t(remote.size))
            if rc == ENOSPC || rc == EDQUOT {
                throw localError("reserve \(Progress.bytes(remote.size)) for", temp.path, rc, call: "posix_fallocate")
            }
        }
        let progress = Progress("downloading", total: remote.size, log: log, interval: config.progressInterval, threshold: config.progressThreshold)
        // Both hashes of the bytes written, from the download's one pass (no second read for the record);
        // the download returns only when the content hash is Dropbox's (it refuses and retries otherwise).
        let (_, dataHash) = try client.downloadHashes(remote, to: fd, path: temp.path, progress: progress)
        crashPoint("downloaded")
        let what = "the downloaded file (rev \(remote.rev))"
        try FileIO.operation("write", temp.path) { () throws(SystemError) in
            // fallocate may have sized the file; the content is exactly remote.size bytes.
            try FileIO.truncate(fd, Int64(remote.size))
            try FileIO.fsync(fd)
        }
        // Closed before SQLite opens the file to verify it.
        let path = temp.path
        let descriptor = temp.descriptor
        descriptor.close()
        try SQLite.verify(path, what: what)
        try client.checkSignal()
        return VerifiedDownload(removal: temp.removal, dataHash: dataHash)
    }
}
