// The record beside the database (<db>.entrypoint.json) of what was last installed, verified or uploaded.
import Glibc

/// The record beside the database of what was last installed, verified or uploaded.
struct StateRecord: Equatable {
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
        guard let bytes = try? FileIO.readSmallFile(path(for: db), limit: 64 << 10),
            let json = try? JSON.parse(bytes),
            let hash = json["content_hash"]?.string, let rev = json["rev"]?.string
        else { return nil }
        return StateRecord(
            contentHash: hash, rev: rev, size: json["size"]?.uint64 ?? 0,
            event: json["event"]?.string ?? "", time: json["time"]?.string ?? "", localHash: json["local_hash"]?.string,
            dataHash: json["data_hash"]?.string)
    }

    func save(_ db: String) throws(EntrypointError) {
        var members: [(String, JSON)] = [
            ("content_hash", .string(contentHash)), ("rev", .string(rev)), ("size", .number(Double(size))),
            ("event", .string(event)), ("time", .string(time)),
        ]
        if let localHash { members.append(("local_hash", .string(localHash))) }
        if let dataHash { members.append(("data_hash", .string(dataHash))) }
        let json = JSON.object(members)
        do throws(SystemError) {
            try FileIO.writeAtomically(Self.path(for: db), Array((json.encoded() + "\n").utf8), mode: 0o644)
        } catch {
            throw localError("write", Self.path(for: db), error.errno)
        }
    }
}
