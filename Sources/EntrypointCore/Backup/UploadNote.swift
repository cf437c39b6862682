// The upload-in-progress note of a volume without a record: its first upload to DROPBOX_DB_PATH
// (mode `add`, or `--force`) writes, before the commit, a record file that holds only the
// `uploading_*` fields. `StateRecord.load` ignores it (no rev: still no record), so every decision
// without a record stays as it was; but when Dropbox's file then has exactly that content hash, the
// answer to this volume's own upload was lost, and `load(_:resolvedAgainst:)` gives the record that
// upload would have written. Without the note, that lost answer made this volume's own upload look
// like someone else's file: the next automatic backup uploaded a side copy of it, and the next
// restore kept the volume's database as a copy and downloaded the same data again (issue 17).

extension StateRecord {
    /// Writes the note (atomically, as every record). A real record is written over it after the upload.
    static func saveUploadNote(_ db: String, contentHash: String, dataHash: String) throws(EntrypointError) {
        try JSON.object([
            ("event", .string("uploading")), ("time", .string(Clock.utcStamp())),
            ("uploading_content_hash", .string(contentHash)), ("uploading_data_hash", .string(dataHash)),
        ]).saveRecord(path(for: db))
    }

    /// The record, resolved against Dropbox's file (`resolved(against:)`); without a record, the one
    /// a note's upload would have written when Dropbox's file is that upload (same content hash).
    static func load(_ db: String, resolvedAgainst remote: RemoteFile?) -> StateRecord? {
        if let record = load(db) { return record.resolved(against: remote) }
        guard let remote, let note = JSON.loadRecord(path(for: db)), note["rev"] == nil,
            let uploading = note["uploading_content_hash"]?.string, uploading == remote.contentHash
        else { return nil }
        return StateRecord(
            contentHash: uploading, rev: remote.rev, size: remote.size, event: "uploaded", time: note["time"]?.string ?? "",
            dataHash: note["uploading_data_hash"]?.string)
    }
}
