// --download REV FILE: one revision of DROPBOX_DB_PATH (any rev from --revisions) to a local file,
// pinned (`rev:` path), verified against Dropbox's content hash, and written crash-safely: a
// temporary file beside FILE, fsync, then link(2) to FILE and fsync of the directory. link fails
// when FILE exists, so an existing file is never replaced, not even one created meanwhile.
import CShims
import Glibc

struct DownloadMode {
    let rev: String
    let file: String
    let config: Configuration
    let environment: [String: String]
    let log: Logger

    /// The infix of the temporary file beside FILE (`FILE.entrypoint-download-<random>`).
    static let tempInfix = ".entrypoint-download-"

    /// A Dropbox rev: at least 9 hex digits (files.stone Rev).
    static func isRev(_ text: String) -> Bool {
        text.utf8.count >= 9 && text.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 97 && $0 <= 102) }
    }

    /// What already has the name `path`, without following a symbolic link (a dangling one too:
    /// link(2) would meet it after the whole download), or nil when the name is free.
    static func taken(_ path: String) -> String? {
        var st = Glibc.stat()
        guard fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFLNK: return "a symbolic link"
        default: return "a file"
        }
    }

    func run() throws(EntrypointError) {
        do throws(EntrypointError) { try download() } catch {
            // The generic "the database was left as it was" would point at the live database.
            if let sig = error.signal { throw EntrypointError(signal: sig, consequence: "\(file) was not created") }
            throw error
        }
    }

    private func download() throws(EntrypointError) {
        guard Self.isRev(rev) else {
            throw EntrypointError(.usage, "--download \(rev): not a Dropbox rev (9 or more hex digits, as --revisions lists them)")
        }
        if let kind = Self.taken(file) {
            throw EntrypointError(.usage, "--download: \(file) already exists (\(kind)); it is never overwritten: name a new file")
        }
        guard config.credentials != .none else {
            throw EntrypointError(.config, "--download needs Dropbox credentials (DROPBOX_ACCESS_TOKEN, or DROPBOX_APP_KEY and DROPBOX_REFRESH_TOKEN)")
        }
        let scope = RunScope(config: config, log: log, environment: environment, deadline: .long(.download, config, environment))
        let client = try scope.makeClient()
        guard let remote = try client.metadata("rev:" + rev) else {
            throw EntrypointError(
                .remoteMissing, "rev \(rev) does not exist in Dropbox (HTTP 409 path/not_found); list the revisions with entrypoint --revisions")
        }
        // The download is pinned to the answer's rev: an answer for another rev would be
        // downloaded and "verified" against that rev's hash, as if it were REV.
        guard remote.rev == rev else {
            throw EntrypointError(.badRemoteData, "files/get_metadata rev:\(rev) answered rev \(remote.rev); nothing was downloaded")
        }
        // Dropbox shows the rev's path as the database's own for a revision of it. An ns: or id:
        // DROPBOX_DB_PATH is not such a path: its file's path_display is asked for (nil: deleted).
        let current = config.remotePath.hasPrefix("/") ? nil : try client.metadata(config.remotePath)
        if let expected = current?.pathDisplay ?? (config.remotePath.hasPrefix("/") ? config.remotePath : nil),
            remote.pathDisplay.lowercased() != expected.lowercased()
        {
            let shown = current.map { " (\($0.pathDisplay))" } ?? ""
            log.warning("rev \(rev) is a revision of \(remote.pathDisplay), not of DROPBOX_DB_PATH=\(config.remotePath)\(shown)")
        }
        log.info("downloading rev \(rev) of \(remote.pathDisplay) (\(Progress.bytes(remote.size)), modified \(remote.serverModified)) to \(file)")
        var temp: TemporaryFile
        do throws(SystemError) { temp = try FileIO.createTemporary(near: file, infix: Self.tempInfix, mode: 0o600) } catch {
            throw error.localError("create a temporary file beside", file)
        }
        let progress = Progress("downloading", total: remote.size, log: log, interval: config.progressInterval, threshold: config.progressThreshold)
        _ = try client.downloadHashes(remote, to: temp.descriptor.raw, path: temp.path, progress: progress)
        do throws(SystemError) {
            try FileIO.fsync(temp.descriptor.raw)
            try FileIO.link(temp.path, file)
            try FileIO.fsyncDirectory(FileIO.dirname(file))
        } catch {
            if error.errno == EEXIST {
                throw EntrypointError(.usage, "--download: \(file) appeared while downloading; it was not overwritten (the download was discarded)")
            }
            if error.call == "link" && (error.errno == EPERM || error.errno == EOPNOTSUPP) {
                // link(2): EPERM when the file system has no hard links (vfat, some FUSE mounts).
                throw EntrypointError(
                    .localIO,
                    "--download: the file system of \(FileIO.dirname(file)) has no hard links, which --download needs to create \(file) without ever replacing a file; choose a directory on another file system",
                    cause: .system(call: "link", errno: error.errno))
            }
            throw error.localError("write", file)
        }
        // The temporary name goes when `temp` goes out of scope; FILE keeps the bytes.
        log.info("Downloaded rev \(rev) to \(file) (\(remote.size) bytes, content hash \(remote.contentHash) verified)")
    }
}
