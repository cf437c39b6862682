// The backup's decision, as one pure function (as Restore/RestoreDecision.swift is for the restore):
// what a backup does with its snapshot, from Dropbox's metadata, the record and the flags.

enum BackupDecision: Equatable {
    /// `--auto`: the snapshot holds the data of the record's rev, which Dropbox still has.
    case nothingToUpload(rev: String)
    /// `--auto`: Dropbox moved on since the record's rev, but the snapshot holds the record's data:
    /// this volume wrote nothing since the state it last shared. A merge would give Dropbox's file
    /// itself and a side copy would hold nothing new, so nothing is uploaded (issue 17).
    case nothingOfOurs(rev: String, since: String)
    /// Dropbox's file is byte for byte the snapshot.
    case alreadyThere(rev: String)
    /// No file in Dropbox yet: upload in mode `add`.
    case add
    /// Dropbox still has the record's rev: upload in mode `update` on it.
    case update(rev: String)
    /// `--force`: overwrite whatever Dropbox has.
    case overwrite(rev: String)
    /// `--merge`: Dropbox moved on since the record's rev and a base can be had (`baseAvailable`: the
    /// proven copy on the volume, or the record's rev from Dropbox, BaseSource.choose): merge, then upload.
    case mergeThenUpload(rev: String)
    /// `--auto`: Dropbox moved on (or the volume has no record): upload beside it.
    case beside(rev: String)
    /// Manual `--backup`: Dropbox moved on (or no record): refuse (76).
    case refuse(rev: String)

    static func decide(
        remote: RemoteFile?, record: StateRecord?, contentHash: String, dataHash: String,
        force: Bool, automatic: Bool, merge: Bool, baseAvailable: Bool
    ) -> BackupDecision {
        guard let remote else { return .add }
        if automatic, let record, record.dataHash == dataHash, remote.rev == record.rev { return .nothingToUpload(rev: remote.rev) }
        if remote.contentHash == contentHash { return .alreadyThere(rev: remote.rev) }
        if automatic, let record, record.dataHash == dataHash { return .nothingOfOurs(rev: remote.rev, since: record.rev) }
        if force { return .overwrite(rev: remote.rev) }
        if let record, record.rev == remote.rev { return .update(rev: record.rev) }
        if merge, record != nil, baseAvailable { return .mergeThenUpload(rev: remote.rev) }
        return automatic ? .beside(rev: remote.rev) : .refuse(rev: remote.rev)
    }
}
