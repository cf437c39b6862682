// Two cases of the backup's decision: a volume that wrote nothing of its own
// uploads no stale side copy after a start on the local database, and a lost answer to the first
// `add` upload (no record yet) leaves an upload-in-progress note that the next run resolves.
import Foundation
import TestSupport
import Testing

@Suite struct BackupNoteTests {
    @Test func aStartOnTheLocalDatabaseThenABackupUploadsNoStaleCopy() throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        // The main server uploads; then Railway restarts while Dropbox is unreachable and starts on
        // its local database (ENTRYPOINT_ON_UNAVAILABLE=start); it writes nothing.
        try w.publish(["main-server"])
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 503, "times": 100])
        let start = try run([], env: w.env(fast.merging(["ENTRYPOINT_ON_UNAVAILABLE": "start", "ENTRYPOINT_MAX_ATTEMPTS": "2"]) { _, b in b }))
        #expect(start.status == 0, "\(start.output)")
        #expect(start.stderr.contains("starting anyway (ENTRYPOINT_ON_UNAVAILABLE=start) on the local database"), "\(start.output)")
        try w.fake.clearFaults()
        // Dropbox is back: the first backup finds Dropbox's newer file and nothing of this volume's own.
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("this volume has written nothing since; nothing uploaded (the next restart restores rev "), "\(r.output)")
        #expect(!r.stderr.contains("Reconcile by hand") && !r.stderr.contains("warning:"), "\(r.output)")
        #expect(w.fake.requests().filter { ($0["route"] as? String ?? "").hasPrefix("files/upload") }.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: w.db + ".entrypoint-failback.json"))
        // The next restart restores the main server's file (nothing local to keep).
        let restart = try run([], env: w.env())
        #expect(restart.status == 0, "\(restart.output)")
        #expect(try DB.items(w.db) == ["main-server"])
        #expect(!restart.stderr.contains("KEPT A COPY"), "\(restart.output)")
    }

    @Test func aLostAnswerToTheFirstAddLeavesANoteTheNextBackupResolves() throws {
        let w = try World()
        try w.localDatabase(["railway"])
        // The first upload is stored but its answer is lost; every retry then fails (503): the
        // backup gives up without knowing that Dropbox has its file.
        try w.fake.fault(["route": "files/upload", "kind": "status", "status": 503, "skip": 1, "times": 100])
        try w.fake.fault(["route": "files/upload", "kind": "reset_after_store", "times": 1])
        let first = try run(["--backup", "--auto"], env: w.env(fast.merging(["ENTRYPOINT_MAX_ATTEMPTS": "2"]) { _, b in b }))
        #expect(first.status == 69, "\(first.output)")
        #expect(w.fake.uploaded("/database.db").count == 1, "Dropbox stored the upload")
        let note = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.db + ".entrypoint.json"))) as? [String: Any])
        #expect(note["uploading_content_hash"] as? String != nil, "\(note)")
        #expect(note["rev"] == nil, "no record yet, only the note: \(note)")
        try w.fake.clearFaults()
        // The next backup recognises its own upload: no side copy of it, nothing uploaded again.
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.stderr.contains("beside it"), "\(r.output)")
        #expect(w.fake.uploaded("/database.db").count == 1)
        let record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.db + ".entrypoint.json"))) as? [String: Any])
        #expect(record["rev"] as? String != nil && record["event"] as? String == "uploaded", "\(record)")
        // And a restart keeps the volume's database: it is Dropbox's file.
        let restart = try run([], env: w.env())
        #expect(restart.status == 0 && !restart.stderr.contains("KEPT A COPY"), "\(restart.output)")
        #expect(try DB.items(w.db) == ["railway"])
    }
}
