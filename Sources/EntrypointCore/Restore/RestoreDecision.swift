// The restore decision: one function, used by the restore and by --check (docs/design.md,
// "Deciding whether to download").

/// What the local database looks like once normalized: both hashes of the main file (DataHash) and
/// whether it is a usable SQLite database.
struct LocalState: Equatable {
    var size: UInt64
    var contentHash: String
    var dataHash: String
    /// nil when it is a usable SQLite database; otherwise why not.
    var unusable: String? = nil
}

/// Why a restore downloads Dropbox's file.
enum DownloadReason: Equatable {
    /// No local database (or an empty file): nothing to keep.
    case noLocal
    /// Dropbox has a new revision; the local database is what the record describes.
    case remoteChanged
    /// Both changed since the record: a divergence. Remote wins, the local database is kept as a copy.
    case bothChanged
    /// No record: nothing proves that the local database is unchanged, so it is kept as a copy.
    case noRecord
    /// The local file is not a usable SQLite database; it is kept as a copy.
    case localUnusable(String)
}

/// The decision of a restore in replace mode.
enum RestoreDecision: Equatable {
    /// The local file is byte for byte Dropbox's file.
    case hashMatch
    /// Neither side changed since the record: the local database holds the data of Dropbox's rev
    /// (after a backup, the live file and the uploaded snapshot differ only in header fields).
    case sameData(rev: String)
    /// Dropbox still has the record's rev, and the local database changed since: it is the newest
    /// copy. Keep it, download nothing.
    case keepLocalChanges(rev: String)
    /// Download and install Dropbox's rev; keep the local database as a copy first when `keepCopy`.
    case download(keepCopy: Bool, reason: DownloadReason)
    /// Both changed since the record and the base (the state the record describes) is at hand:
    /// merge Dropbox's changes since the base into the local database instead of replacing it.
    case merge(rev: String)

    /// Decides from the local database (nil when missing), Dropbox's metadata and the record.
    ///
    /// - Remote changed: Dropbox's rev or content hash is not the record's.
    /// - Local changed: its data hash is not the record's `data_hash`; for a record without one
    ///   (older versions), its content hash is not the record's `local_hash` (or `content_hash`).
    /// - Both changed: merge when `baseAvailable` (the base copy proves the record's state), else
    ///   download and keep the local database as a copy.
    static func decide(local: LocalState?, remote: RemoteFile, record: StateRecord?, baseAvailable: Bool = false) -> RestoreDecision {
        if let local, local.contentHash == remote.contentHash { return .hashMatch }
        guard let local, local.size > 0 else { return .download(keepCopy: false, reason: .noLocal) }
        if let why = local.unusable { return .download(keepCopy: true, reason: .localUnusable(why)) }
        guard let record else { return .download(keepCopy: true, reason: .noRecord) }
        let remoteChanged = record.rev != remote.rev || record.contentHash != remote.contentHash
        let localChanged = StateRecord.localChanged(record, local: local)
        switch (remoteChanged, localChanged) {
        case (false, false): return .sameData(rev: remote.rev)
        case (false, true): return .keepLocalChanges(rev: remote.rev)
        case (true, false): return .download(keepCopy: false, reason: .remoteChanged)
        case (true, true): return baseAvailable ? .merge(rev: remote.rev) : .download(keepCopy: true, reason: .bothChanged)
        }
    }

    /// `decide`, with the base looked for only when both changed: the restore and --check call
    /// this. The base copy on the volume is hashed (BaseCopy.proven) and used when it proves the
    /// record's state; otherwise the base is the record's rev, downloaded when the merge runs
    /// (Restore/BaseFetch.swift). Returns where the base comes from, for a merge.
    static func decideWithBase(local: LocalState?, remote: RemoteFile, record: StateRecord?, db: String) -> (RestoreDecision, BaseSource?) {
        let decision = decide(local: local, remote: remote, record: record)
        guard decision == .download(keepCopy: true, reason: .bothChanged),
            let base = BaseSource.choose(proven: BaseCopy.proven(for: db, record: record), record: record)
        else { return (decision, nil) }
        return (decide(local: local, remote: remote, record: record, baseAvailable: true), base)
    }

    /// The restore's log line for a decision that downloads nothing.
    static func sameDataLine(rev: String, record: StateRecord?) -> String { "No download needed: " + sameDataText(rev: rev, record: record) }

    static func sameDataText(rev: String, record: StateRecord?) -> String {
        "the local database holds the same data as Dropbox's rev \(rev) (\(record?.event == "uploaded" ? "uploaded from" : "restored to") this volume)"
    }

    static func keepLocalLine(rev: String) -> String {
        "Local database has changes not yet in Dropbox (rev \(rev) unchanged); keeping it"
    }

    /// Why the local database is kept as a copy before it is replaced (the KEPT A COPY line).
    static func copyReason(_ reason: DownloadReason, remote: RemoteFile) -> String {
        switch reason {
        case .bothChanged:
            return
                "both changed since the last restore or backup: the local database has writes that are not in Dropbox, and Dropbox has a new rev \(remote.rev)"
        case .noRecord:
            return "there is no record of a restore or backup on this volume, so nothing proves it unchanged; Dropbox has rev \(remote.rev)"
        case .localUnusable(let why):
            return "it is not a usable SQLite database (\(why)); it is replaced by Dropbox's verified rev \(remote.rev)"
        case .noLocal, .remoteChanged:
            return "Dropbox has rev \(remote.rev)"
        }
    }

    /// Where --check's merge line says the base comes from.
    static func baseText(_ base: BaseSource?) -> String {
        if case .revision(let rev, _, _) = base {
            return "whose base would be downloaded by rev \(rev) from Dropbox's version history"
        }
        return "whose base is kept on this volume"
    }

    /// --check's `result:` line (the same decision, in the conditional).
    func checkLine(remote: RemoteFile, record: StateRecord?, keepCopies: Int, base: BaseSource? = nil) -> String {
        switch self {
        case .hashMatch:
            return "result: no download needed (hash match)"
        case .sameData(let rev):
            return "result: no download needed: " + Self.sameDataText(rev: rev, record: record)
        case .keepLocalChanges(let rev):
            return "result: would keep the local database: it has changes not yet in Dropbox (rev \(rev) unchanged); nothing would be downloaded"
        case .merge(let rev):
            return
                "result: would merge Dropbox's rev \(rev) into the local database (both changed since rev \(record?.rev ?? "?"), \(Self.baseText(base))); if the merge is refused (a schema change, a table without a primary key changed on both sides, a base Dropbox no longer has), would download it instead, keeping the local database as a copy first: "
                + Self.copyReason(.bothChanged, remote: remote)
        case .download(let keepCopy, let reason):
            var line =
                "result: would download rev \(remote.rev) (\(Progress.bytes(remote.size))) and replace \(reason == .noLocal ? "nothing (no local database)" : "the local database")"
            if keepCopy {
                line +=
                    keepCopies > 0
                    ? ", keeping the local database as a copy first: " + Self.copyReason(reason, remote: remote)
                    : " without keeping a copy (ENTRYPOINT_KEEP_COPIES=0) although " + Self.copyReason(reason, remote: remote)
            }
            return line
        }
    }
}
