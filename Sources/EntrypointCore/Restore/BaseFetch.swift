// The base of a merge (docs/design.md, "The base"): the state this volume last shared with Dropbox.
// A restore keeps no copy of it (that was a second full write of the database on every cold start,
// issue 21): the record names Dropbox's rev, and a merge downloads that rev when it needs it, into a
// private temporary beside the database, verified against the record's content hash and data hash,
// removed after the merge. A local `<db>.entrypoint-base` that proves the record's state (left by an
// upload or a merge, hard links that cost no write) is used first and costs no download.
import Glibc

/// Where a merge's base can be had from. Chosen by a pure function (the restore, the backup and
/// --check share it); obtaining it is the acting code's part (`RevisionFetch.obtainBase`).
enum BaseSource: Equatable {
    /// `<db>.entrypoint-base`, whose data hash is the record's (BaseCopy.proven).
    case onVolume(path: String)
    /// The record's rev, to be downloaded from Dropbox's version history (`rev:<rev>`).
    case revision(rev: String, contentHash: String, dataHash: String?)

    /// A base can be had when a local file proves the record's state, or else from the record's rev
    /// (Dropbox answered, so it is reachable; whether it still has that rev is found out when the
    /// merge needs it). No record: no base.
    static func choose(proven: String?, record: StateRecord?) -> BaseSource? {
        if let proven { return .onVolume(path: proven) }
        guard let record, !record.rev.isEmpty else { return nil }
        return .revision(rev: record.rev, contentHash: record.contentHash, dataHash: record.dataHash)
    }

    /// How the lines name the base.
    var name: String {
        switch self {
        case .onVolume(let path): path
        case .revision(let rev, _, _): "Dropbox's rev \(rev)"
        }
    }

    /// How the merge's lines name the base (MergeLabels.base).
    var label: String { "(\(name))" }

    /// Whether `error`, from `RevisionFetch.obtainBase`, means that Dropbox cannot give this base (the rev
    /// is gone from its history, restricted, or holds another state than the record says): the merge
    /// is impossible, and the caller does what it does without a base. Any other error (the network,
    /// the deadline, the volume, a stop signal) is the caller's to throw.
    static func cannotBeHad(_ error: EntrypointError) -> Bool {
        if error.code == .remoteMissing || error.code == .badRemoteData { return true }
        if case .http(409, _) = error.cause { return true }
        return false
    }

    /// Whether a start that failed to obtain the base goes on without one (Dropbox's file installed,
    /// the local database kept as a copy): the base cannot be had, or a local failure (a full or
    /// read-only volume) stopped its download. Dropbox unreachable or failing is not a reason to
    /// replace the running site's database: that error is the start's to report (ENTRYPOINT_ON_UNAVAILABLE).
    static func fallsBack(_ error: EntrypointError) -> Bool {
        cannotBeHad(error) || !error.isUnavailable
    }
}

/// A base ready to be read by the merge. A downloaded one is a private temporary, removed with its
/// SQLite sidecars when this object goes away; the one on the volume is left as it is.
final class ObtainedBase {
    let path: String
    let temporary: Bool

    init(path: String, temporary: Bool) {
        self.path = path
        self.temporary = temporary
    }

    deinit {
        guard temporary else { return }
        for file in [path] + SQLite.sidecarSuffixes.map({ path + $0 }) { FileIO.removeBestEffort(file) }
    }
}

extension RevisionFetch {
    /// The base named by `source`: the file on the volume, or the record's rev downloaded into
    /// `<db>.entrypoint-base-tmp-<random>` (mode 0600; removed by the next start or the supervisor if
    /// this process is killed) and checked: Dropbox's metadata for `rev:<rev>` must carry the record's
    /// content hash, the bytes must have it (the download verifies them), and their data hash must be
    /// the record's. Throws a `BaseSource.cannotBeHad` error when Dropbox no longer has that state.
    func obtainBase(_ source: BaseSource, client: DropboxClient) throws(EntrypointError) -> ObtainedBase {
        guard case .revision(let rev, let contentHash, let dataHash) = source else {
            if case .onVolume(let path) = source { return ObtainedBase(path: path, temporary: false) }
            throw EntrypointError(.software, "no base")  // unreachable: two cases
        }
        guard let meta = try client.metadata("rev:" + rev) else {
            throw EntrypointError(
                .remoteMissing,
                "Dropbox no longer has rev \(rev) (HTTP 409 path/not_found: older than the account's version history, or the file was deleted since)",
                cause: .http(status: 409, summary: "path/not_found"))
        }
        guard meta.rev == rev, meta.contentHash == contentHash else {
            throw EntrypointError(
                .badRemoteData, "Dropbox's rev \(meta.rev) (asked for rev \(rev)) has content hash \(meta.contentHash), not the record's \(contentHash)")
        }
        log.info(
            "merge: downloading the base, Dropbox's rev \(rev) (\(Progress.bytes(meta.size)), the state this volume last shared); it is removed after the merge"
        )
        var temp = try FileIO.operation("create a temporary file in", directory) { () throws(SystemError) in
            try FileIO.createTemporary(near: db, infix: BaseCopy.tempInfix, mode: 0o600)
        }
        let base = ObtainedBase(path: temp.path, temporary: true)
        temp.removal.keep()  // `base` removes it (and its sidecars) from now on
        let progress = Progress("downloading the base", total: meta.size, log: log, interval: config.progressInterval, threshold: config.progressThreshold)
        let (_, data) = try client.downloadHashes(meta, to: temp.descriptor.raw, path: temp.path, progress: progress)
        crashPoint("base-downloaded")
        let descriptor = temp.descriptor
        descriptor.close()  // SQLite opens it for the merge
        if let dataHash, data != dataHash {
            throw EntrypointError(.badRemoteData, "Dropbox's rev \(rev) has data hash \(data), not the record's \(dataHash)")
        }
        return base
    }
}
