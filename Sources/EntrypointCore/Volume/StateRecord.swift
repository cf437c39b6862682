// The record beside the database (<db>.entrypoint.json) of what was last installed, verified or uploaded.
import Glibc

/// The record beside the database of what was last installed, verified or uploaded.
struct StateRecord: Equatable {
    /// After a merge: the state this volume shares with Dropbox is Dropbox's rev, merged into the
    /// local database (its data hash is the download's).
    static func merged(_ remote: RemoteFile, dataHash: String?) -> StateRecord {
        StateRecord(contentHash: remote.contentHash, rev: remote.rev, size: remote.size, event: "merged", time: Clock.utcStamp(), dataHash: dataHash)
    }

    /// Dropbox's content hash of `rev`, as last restored, verified or uploaded.
    var contentHash: String
    var rev: String
    var size: UInt64
    var event: String
    var time: String
    /// Written by older versions after a backup: the live file's content hash, taken after the
    /// snapshot (a commit in between was counted as backed up). Read for compatibility, no longer
    /// written: `dataHash` replaces it.
    var localHash: String? = nil
    /// The data hash (DataHash) of the database this record describes: of the installed file after a
    /// restore, of the uploaded snapshot file itself after a backup. Equal data hashes mean equal data.
    var dataHash: String? = nil
    /// Set just before an upload to DROPBOX_DB_PATH commits: the content hash and data hash of the
    /// snapshot being uploaded. An upload whose answer never arrived (the worker killed at the stop
    /// deadline, a transfer cut after the commit) leaves them here: when Dropbox's file then has
    /// that content hash, it is this volume's own upload (`resolved(against:)`), not someone else's.
    var uploadingContentHash: String? = nil
    var uploadingDataHash: String? = nil

    /// This record, or, when Dropbox's file `remote` moved on to exactly the snapshot this volume
    /// was uploading (same content hash, so the same bytes and data), the record that upload would
    /// have written. Without it, a lost answer made this volume's own upload look like the main
    /// server's: later backups went beside it as failback copies (or were refused), and the next
    /// restart "diverged", rolled the app back to that upload and kept the newer database as a copy.
    func resolved(against remote: RemoteFile?) -> StateRecord {
        guard let remote, remote.rev != rev, let uploading = uploadingContentHash, remote.contentHash == uploading else { return self }
        return StateRecord(contentHash: uploading, rev: remote.rev, size: remote.size, event: "uploaded", time: time, dataHash: uploadingDataHash)
    }

    /// Whether a local database (normalized, so the main file is complete) with these hashes holds
    /// writes made since this record: its data hash differs from the record's `data_hash`. A record
    /// without one (written by an older version) uses the old rule: the content hash differs from the
    /// recorded `local_hash`, or without one from `content_hash`. No record counts as changed.
    static func localChanged(_ record: StateRecord?, contentHash: String?, dataHash: String?) -> Bool {
        guard let record else { return true }
        if let recorded = record.dataHash { return recorded != dataHash }
        return (record.localHash ?? record.contentHash) != contentHash
    }

    static func localChanged(_ record: StateRecord?, local: LocalState) -> Bool {
        localChanged(record, contentHash: local.contentHash, dataHash: local.dataHash)
    }

    static func path(for db: String) -> String { db + ".entrypoint.json" }

    static func load(_ db: String) -> StateRecord? {
        guard let json = JSON.loadRecord(path(for: db)),
            let hash = json["content_hash"]?.string, let rev = json["rev"]?.string
        else { return nil }
        return StateRecord(
            contentHash: hash, rev: rev, size: json["size"]?.uint64 ?? 0,
            event: json["event"]?.string ?? "", time: json["time"]?.string ?? "", localHash: json["local_hash"]?.string,
            dataHash: json["data_hash"]?.string, uploadingContentHash: json["uploading_content_hash"]?.string,
            uploadingDataHash: json["uploading_data_hash"]?.string)
    }

    func save(_ db: String) throws(EntrypointError) {
        var members: [(String, JSON)] = [
            ("content_hash", .string(contentHash)), ("rev", .string(rev)), ("size", .number(Double(size))),
            ("event", .string(event)), ("time", .string(time)),
        ]
        if let localHash { members.append(("local_hash", .string(localHash))) }
        if let dataHash { members.append(("data_hash", .string(dataHash))) }
        if let uploadingContentHash { members.append(("uploading_content_hash", .string(uploadingContentHash))) }
        if let uploadingDataHash { members.append(("uploading_data_hash", .string(uploadingDataHash))) }
        try JSON.object(members).saveRecord(Self.path(for: db))
    }
}

extension JSON {
    /// A record file beside the database (the state and failback records): its JSON, or nil when it is
    /// missing, unreadable or not JSON (a record that cannot be read counts as no record).
    static func loadRecord(_ path: String) -> JSON? {
        guard let bytes = try? FileIO.readSmallFile(path, limit: 64 << 10) else { return nil }
        return try? JSON.parse(bytes)
    }

    /// Writes this JSON as a record file, atomically (temporary file, fsync, rename, directory fsync).
    func saveRecord(_ path: String) throws(EntrypointError) {
        try FileIO.operation("write", path) { () throws(SystemError) in
            try FileIO.writeAtomically(path, Array((encoded() + "\n").utf8), mode: 0o644)
        }
    }
}
