// The restore decision's merge outcome, and the base copy that makes it possible.
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct MergeDecisionTests {
    let remote = RemoteFile(.object([("rev", .string("r2")), ("size", .number(100)), ("content_hash", .string("remote"))]))!

    func record(rev: String = "r1", data: String? = "data-r1") -> StateRecord {
        StateRecord(contentHash: rev == "r2" ? "remote" : "old", rev: rev, size: 100, event: "uploaded", time: "t", dataHash: data)
    }

    func local(data: String) -> LocalState { LocalState(size: 100, contentHash: "live", dataHash: data) }

    @Test func bothChangedMergesOnlyWithABase() {
        #expect(RestoreDecision.decide(local: local(data: "newer"), remote: remote, record: record(), baseAvailable: true) == .merge(rev: "r2"))
        #expect(RestoreDecision.decide(local: local(data: "newer"), remote: remote, record: record()) == .download(keepCopy: true, reason: .bothChanged))
        // A base changes nothing else: no record, remote only, local only, unusable.
        #expect(
            RestoreDecision.decide(local: local(data: "newer"), remote: remote, record: nil, baseAvailable: true)
                == .download(keepCopy: true, reason: .noRecord))
        #expect(
            RestoreDecision.decide(local: local(data: "data-r1"), remote: remote, record: record(), baseAvailable: true)
                == .download(keepCopy: false, reason: .remoteChanged))
        #expect(
            RestoreDecision.decide(local: local(data: "newer"), remote: remote, record: record(rev: "r2"), baseAvailable: true) == .keepLocalChanges(rev: "r2"))
        let unusable = LocalState(size: 100, contentHash: "live", dataHash: "x", unusable: "bad")
        #expect(
            RestoreDecision.decide(local: unusable, remote: remote, record: record(), baseAvailable: true)
                == .download(keepCopy: true, reason: .localUnusable("bad")))
        #expect(RestoreDecision.merge(rev: "r2").checkLine(remote: remote, record: record(), keepCopies: 3).hasPrefix("result: would merge Dropbox's rev r2"))
    }

    @Test func theBaseIsUsedOnlyWhenItsDataHashIsTheRecords() throws {
        let dir = TempDir()
        let db = dir.file("app.db")
        let snapshot = dir.file("snap.db")
        try DB.make(snapshot, rows: ["base"])
        let data = try DataHash.ofFile(snapshot).data
        #expect(BaseCopy.proven(for: db, record: record(data: data)) == nil, "no base kept yet")
        BaseCopy.keep(snapshot, for: db, log: Logger(level: .error, fd: -1))
        #expect(BaseCopy.proven(for: db, record: record(data: data)) == BaseCopy.path(for: db))
        #expect(BaseCopy.proven(for: db, record: record(data: "another state")) == nil)
        #expect(BaseCopy.proven(for: db, record: record(data: nil)) == nil, "a record without a data hash proves nothing")
        #expect(BaseCopy.proven(for: db, record: nil) == nil)
        // A copy (not a link) when the file becomes the live database: changing it leaves the base.
        try DB.make(snapshot, rows: ["next"])
        let next = try DataHash.ofFile(snapshot).data
        BaseCopy.keep(snapshot, for: db, log: Logger(level: .error, fd: -1), link: false)
        try DB.sql(snapshot, "INSERT INTO items VALUES ('live write')")
        #expect(BaseCopy.proven(for: db, record: record(data: next)) != nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["app.db.entrypoint-base", "snap.db"])
    }

    @Test func theBackupDecision() {
        func decide(
            _ remote: RemoteFile?, _ record: StateRecord?, data: String = "snap", force: Bool = false, auto: Bool = false, merge: Bool = false,
            base: Bool = false
        ) -> BackupDecision {
            BackupDecision.decide(
                remote: remote, record: record, contentHash: "snap-content", dataHash: data, force: force, automatic: auto, merge: merge, baseAvailable: base)
        }
        let same = RemoteFile(.object([("rev", .string("r2")), ("size", .number(100)), ("content_hash", .string("snap-content"))]))!
        let atRecord = StateRecord(contentHash: "remote", rev: "r2", size: 100, event: "uploaded", time: "t", dataHash: "snap")
        #expect(decide(nil, nil) == .add)
        #expect(decide(remote, atRecord, auto: true) == .nothingToUpload(rev: "r2"))
        #expect(decide(remote, atRecord, data: "newer", auto: true) == .update(rev: "r2"))
        #expect(decide(same, record()) == .alreadyThere(rev: "r2"))
        #expect(decide(remote, record(), force: true) == .overwrite(rev: "r2"))
        // Dropbox moved on since the record (r1 → r2):
        #expect(decide(remote, record()) == .refuse(rev: "r2"))
        #expect(decide(remote, record(), auto: true) == .beside(rev: "r2"))
        #expect(decide(remote, record(), merge: true, base: true) == .mergeThenUpload(rev: "r2"))
        #expect(decide(remote, record(), merge: true, base: false) == .refuse(rev: "r2"), "no base proved: no merge")
        #expect(decide(remote, nil, merge: true, base: true) == .refuse(rev: "r2"), "no record: no base")
        #expect(decide(remote, nil, auto: true) == .beside(rev: "r2"))
        // --auto merges (Invocation: --auto implies merge); beside only without a base or a record.
        #expect(decide(remote, record(), auto: true, merge: true, base: true) == .mergeThenUpload(rev: "r2"))
        #expect(decide(remote, record(), auto: true, merge: true, base: false) == .beside(rev: "r2"))
        #expect(decide(remote, nil, auto: true, merge: true, base: true) == .beside(rev: "r2"))
        // Dropbox moved on, but the volume holds the record's data (nothing of its own,
        // e.g. after a start that fell back to the local database): nothing to upload, no side copy.
        #expect(decide(remote, record(data: "snap"), auto: true, merge: true, base: true) == .nothingOfOurs(rev: "r2", since: "r1"))
        #expect(decide(remote, record(data: "snap"), auto: true) == .nothingOfOurs(rev: "r2", since: "r1"))
        #expect(decide(remote, record(data: "snap")) == .refuse(rev: "r2"), "a manual --backup keeps its contract")
    }

    /// The first upload of a volume without a record leaves a note; only Dropbox's file with
    /// exactly that content hash resolves it, and no other reader takes it for a record.
    @Test func anUploadNoteResolvesOnlyToItsOwnUpload() throws {
        let dir = TempDir()
        let db = dir.file("app.db")
        try StateRecord.saveUploadNote(db, contentHash: "remote", dataHash: "data-mine")
        #expect(StateRecord.load(db) == nil, "a note is not a record")
        #expect(StateRecord.load(db, resolvedAgainst: nil) == nil)
        let other = RemoteFile(.object([("rev", .string("r9")), ("size", .number(100)), ("content_hash", .string("someone-else"))]))!
        #expect(StateRecord.load(db, resolvedAgainst: other) == nil)
        let mine = try #require(StateRecord.load(db, resolvedAgainst: remote))
        #expect(mine.rev == "r2" && mine.contentHash == "remote" && mine.dataHash == "data-mine" && mine.event == "uploaded")
        // A real record written over the note is read as it is.
        try record().save(db)
        #expect(StateRecord.load(db, resolvedAgainst: remote) == record())
    }
}
