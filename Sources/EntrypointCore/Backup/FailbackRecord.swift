// The record of the newest failback copy (<db>.entrypoint-failback.json): what `--backup --auto`
// uploaded BESIDE Dropbox's file when that file had moved on. Kept apart from the main record
// (<db>.entrypoint.json) on purpose: the main record keeps describing the last restore or upload of
// DROPBOX_DB_PATH itself, so a later restore still sees the local database as changed and keeps it.
// This record only stops the next automatic backup from uploading the same data beside it again.
import Glibc

struct FailbackRecord: Equatable {
    /// The side copy in Dropbox, e.g. /database.failback-20261201T193000Z.db.
    var path: String
    var rev: String
    var contentHash: String
    /// The data hash (DataHash) of the uploaded snapshot.
    var dataHash: String
    var size: UInt64
    var time: String
    /// Dropbox's main file (DROPBOX_DB_PATH) and its rev when the side copy was made (nil: no file).
    var remotePath: String
    var remoteRev: String?
    /// The main record's rev when the copy was made (nil: no record): the divergence this copy is
    /// for. A later automatic backup of the same divergence updates this copy in place.
    var baseRev: String? = nil

    static func path(for db: String) -> String { db + ".entrypoint-failback.json" }

    static func load(_ db: String) -> FailbackRecord? {
        guard let json = JSON.loadRecord(path(for: db)),
            let path = json["path"]?.string, let rev = json["rev"]?.string,
            let hash = json["content_hash"]?.string, let data = json["data_hash"]?.string
        else { return nil }
        return FailbackRecord(
            path: path, rev: rev, contentHash: hash, dataHash: data, size: json["size"]?.uint64 ?? 0,
            time: json["time"]?.string ?? "", remotePath: json["remote_path"]?.string ?? "", remoteRev: json["remote_rev"]?.string,
            baseRev: json["base_rev"]?.string)
    }

    func save(_ db: String) throws(EntrypointError) {
        var members: [(String, JSON)] = [
            ("path", .string(path)), ("rev", .string(rev)), ("content_hash", .string(contentHash)),
            ("data_hash", .string(dataHash)), ("size", .number(Double(size))), ("time", .string(time)),
            ("remote_path", .string(remotePath)),
        ]
        if let remoteRev { members.append(("remote_rev", .string(remoteRev))) }
        if let baseRev { members.append(("base_rev", .string(baseRev))) }
        try JSON.object(members).saveRecord(Self.path(for: db))
    }

    /// Removes the record once DROPBOX_DB_PATH itself holds this volume's upload again.
    static func remove(_ db: String) throws(EntrypointError) {
        try FileIO.operation("remove", path(for: db)) { () throws(SystemError) in try FileIO.unlinkIfPresent(path(for: db)) }
    }

    /// The side copy's name: `<stem>.failback-<stamp><ext>` in the folder of `remote`; the n-th
    /// attempt (n > 1, after a name collision) gets `-n` after the stamp. A name without a dot (or
    /// whose only dot is its first character) has no extension.
    static func sidePath(_ remote: String, stamp: String, attempt: Int = 1) -> String {
        var folder = ""
        var name = remote[...]
        if let slash = remote.lastIndex(of: "/") {
            folder = String(remote[...slash])
            name = remote[remote.index(after: slash)...]
        }
        var stem = name
        var ext: Substring = ""
        if let dot = name.lastIndex(of: "."), dot != name.startIndex {
            stem = name[..<dot]
            ext = name[dot...]
        }
        return folder + stem + ".failback-" + stamp + (attempt > 1 ? "-\(attempt)" : "") + ext
    }
}
