// What a backup makes of the upload's answer. Dropbox stored the file but the answer was cut short,
// garbled, or never arrived (the backup killed first): the upload is recognised as this volume's own,
// so later backups update Dropbox's file (no failback copy beside it) and a restart keeps no copy.
// A page that is not Dropbox's answer (a proxy's HTML with 200) is a failure, the record unchanged.
import Foundation
import TestSupport
import Testing

@Suite struct UploadAnswerTests {
    /// files/upload stored the file, but its 200 answer arrived cut short (a truncated JSON body):
    /// the upload happened. Before: exit 65 and a stale record, so the next --backup refused with
    /// exit 76 ("the main server may have uploaded since") and --auto uploaded every later backup
    /// beside Dropbox's file as a failback copy, although only this volume had written.
    @Test func aTruncatedUploadAnswerIsCheckedWithDropbox() throws {
        let w = try World()
        try w.restoredThenWritten("local-1")
        try w.fake.fault(["route": "files/upload", "kind": "truncate", "bytes": 20])
        let first = try run(["--backup"], env: w.env())
        #expect(first.status == 0, "\(first.output)")
        let stored = w.fake.uploaded(w.remotePath)
        #expect(stored.count == 1)
        #expect(try savedRecord(w)["event"] as? String == "uploaded", "\(first.output)")

        try DB.sql(w.db, "INSERT INTO items VALUES ('local-2')")
        let second = try run(["--backup"], env: w.env())
        #expect(second.status == 0, "a later --backup of this volume's own data refused: \(second.output)")
        #expect(w.fake.uploaded(w.remotePath).count == 2)

        try DB.sql(w.db, "INSERT INTO items VALUES ('local-3')")
        try w.fake.fault(["route": "files/upload", "kind": "truncate", "bytes": 0])
        let auto = try run(["--backup", "--auto"], env: w.env())
        #expect(auto.status == 0, "\(auto.output)")
        #expect(!auto.output.contains("failback"), "\(auto.output)")
        try DB.sql(w.db, "INSERT INTO items VALUES ('local-4')")
        let autoAgain = try run(["--backup", "--auto"], env: w.env())
        #expect(autoAgain.status == 0 && !autoAgain.output.contains("failback"), "\(autoAgain.output)")
        #expect(w.fake.uploaded(w.remotePath).count == 4)
    }

    /// An HTML page with 200 on the upload route (a proxy's page): nothing was stored, so it stays
    /// a failure, and the record keeps describing the restore.
    @Test func anHTMLPageOnTheUploadRouteIsNotASuccess() throws {
        let w = try World()
        try w.restoredThenWritten("local-1")
        try w.fake.fault(["route": "files/upload", "kind": "html", "times": -1])
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 65, "\(r.output)")
        #expect(w.fake.uploaded(w.remotePath).isEmpty)
        #expect(try savedRecord(w)["event"] as? String == "restored")
    }

    /// `--backup --auto` SIGKILLed once Dropbox has stored its upload, before the answer arrives
    /// (it trickles at 20 bytes/s); the fault is cleared afterwards.
    func backupKilledAfterDropboxCommitted(_ w: World) throws {
        try w.fake.fault(["route": "files/upload", "kind": "throttle", "bytes_per_second": 20, "times": -1])
        let killed = try Runner(["--backup", "--auto"], env: w.env())
        #expect(eventually(20) { w.fake.uploaded(w.remotePath).count == 1 }, "the upload was not stored")
        kill(killed.pid, SIGKILL)
        _ = killed.wait()
        try w.fake.clearFaults()
    }

    /// A backup killed after Dropbox committed its upload but before the answer arrived (the stop
    /// deadline's SIGTERM/SIGKILL of a worker waiting for a slow answer; here the answer trickles
    /// at 20 bytes/s and the worker gets SIGKILL once Dropbox has stored the file). Before: the
    /// record still named the old rev, so this volume's own upload looked like the main server's:
    /// the restart "diverged" and kept a copy, and every later --auto backup went beside Dropbox's
    /// file as a failback copy, so the next restart rolled the app back to the killed upload.
    @Test func aBackupKilledAfterDropboxCommittedIsRecognisedAsOurOwn() throws {
        let w = try World()
        try w.restoredThenWritten("local-1")
        try backupKilledAfterDropboxCommitted(w)

        // The app writes on; its next automatic backup updates Dropbox's file, not a side copy.
        try DB.sql(w.db, "INSERT INTO items VALUES ('local-2')")
        let next = try run(["--backup", "--auto"], env: w.env())
        #expect(next.status == 0, "\(next.output)")
        #expect(!next.output.contains("failback"), "\(next.output)")
        #expect(w.fake.uploaded(w.remotePath).count == 2)
        #expect(try savedRecord(w)["event"] as? String == "uploaded")

        // The restart keeps the newest data and keeps no copy: nothing diverged.
        let restart = try run([], env: w.env())
        #expect(restart.status == 0, "\(restart.output)")
        #expect(!restart.output.contains("KEPT A COPY"), "\(restart.output)")
        #expect(w.leftovers().filter { $0.contains(".local-") }.isEmpty, "\(w.leftovers())")
        #expect(try DB.items(w.db) == ["base", "local-1", "local-2"])
    }

    /// The same kill, then the restart right away: the local database holds exactly the killed
    /// upload's data, so there is nothing to download and no copy to keep.
    @Test func aRestartAfterAKilledUploadKeepsNoCopy() throws {
        let w = try World()
        try w.restoredThenWritten("local-1")
        try backupKilledAfterDropboxCommitted(w)
        let check = try run(["--check"], env: w.env())
        #expect(check.output.contains("no download needed"), "\(check.output)")
        let restart = try run([], env: w.env())
        #expect(restart.status == 0, "\(restart.output)")
        #expect(!restart.output.contains("KEPT A COPY"), "\(restart.output)")
        #expect(w.leftovers().filter { $0.contains(".local-") }.isEmpty, "\(w.leftovers())")
        #expect(try DB.items(w.db) == ["base", "local-1"])
    }

    /// Dropbox committed the upload, then the check after it (get_metadata) got a garbled answer:
    /// exit 69, and the record was left naming the old rev. The next automatic backup must see that
    /// Dropbox holds this volume's own snapshot, not go beside it.
    @Test func aGarbledCheckAfterTheCommitLeavesTheUploadRecognised() throws {
        let w = try World()
        try w.restoredThenWritten("local-1")
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 200, "body": "{\".tag\": \"file\", \"na", "skip": 1, "times": 1])
        let first = try run(["--backup", "--auto"], env: w.env())
        #expect(first.status == 69, "\(first.output)")
        #expect(w.fake.uploaded(w.remotePath).count == 1)
        try w.fake.clearFaults()
        let again = try run(["--backup", "--auto"], env: w.env())
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("no change since rev"), "\(again.output)")
        #expect(!again.output.contains("failback"), "\(again.output)")
        let restart = try run([], env: w.env())
        #expect(!restart.output.contains("KEPT A COPY"), "\(restart.output)")
        #expect(try DB.items(w.db) == ["base", "local-1"])
    }
}
