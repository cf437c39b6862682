// Issue 19, "Merge on upload": the supervisor's backups (`--backup --auto`) merge a Dropbox file that
// moved on since the base (the main server uploaded while Railway runs) into the running app's
// database and upload the result, rev-guarded, instead of a failback copy. The running app's rows
// that collide with the main server's are re-keyed (only rows that never reached Dropbox), each
// named in a warning. The merge holds the app's write lock at most ENTRYPOINT_LOCK_TIMEOUT.
import Foundation
import Testing
import TestSupport

@Suite struct AutoBackupMergeTests {
    /// The main server and Railway diverge: Railway booked B-205 (never uploaded), the main server
    /// pulled Railway's earlier upload, booked B-104 and cancelled B-101, and uploaded.
    func diverged(_ w: World) throws -> (mainDB: String, mainEnv: [String: String], dir: TempDir) {
        let dir = TempDir()
        let mainDB = dir.file("main.db")
        let mainEnv = w.env(["RAILWAY_DB_PATH": mainDB])
        try DB.sql(mainDB, MergeAtStartTests.schema)
        #expect(try run(["--backup"], env: mainEnv).status == 0)
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, MergeAtStartTests.book("B-204", "dave@x", "Dave", "thu 08", pay: 30))
        #expect(try run(["--backup", "--auto"], env: w.env()).status == 0)
        try DB.sql(w.db, MergeAtStartTests.book("B-205", "erin@x", "Erin", "fri 16") + "UPDATE bookings SET slot = 'mon 15' WHERE ref = 'B-102';")
        #expect(try run([], env: mainEnv).status == 0)
        try DB.sql(mainDB, MergeAtStartTests.book("B-104", "carol@x", "Carol", "wed 14", pay: 90) + "UPDATE bookings SET status = 'cancelled' WHERE ref = 'B-101';")
        #expect(try run(["--backup"], env: mainEnv).status == 0)
        return (mainDB, mainEnv, dir)
    }

    static let everyWrite = [
        "B-101 alice@x Alice mon 10 cancelled 50", "B-102 bob@x Bob mon 15 booked 70", "B-103 alice@x Alice tue 09 booked -",
        "B-104 carol@x Carol wed 14 booked 90", "B-204 dave@x Dave thu 08 booked 30", "B-205 erin@x Erin fri 16 booked -",
    ]

    func sideCopies(_ w: World) -> [String] {
        let json = FileManager.default.contents(atPath: w.fake.state.file("uploaded.json"))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        return json.keys.filter { $0.contains(".failback-") }
    }

    @Test func automaticBackupMergesAndUploadsBothSitesWrites() throws {
        let w = try World()
        let (mainDB, mainEnv, _) = try diverged(w)
        let uploadsBefore = w.fake.uploaded("/database.db").count
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("merging its changes into \(w.db)"), "\(r.output)")
        // Railway's B-205 never reached Dropbox: re-keyed, and the operator sees it as a warning.
        #expect(r.stderr.contains("entrypoint: warning: merge: RE-KEYED bookings id="), "\(r.output)")
        #expect(r.stderr.contains("Backed up \(w.db) to /database.db"), "\(r.output)")
        #expect(!r.stderr.contains("beside it"), "\(r.output)")
        // One new upload of Dropbox's file, in update mode on the main server's rev; no side copy.
        #expect(w.fake.uploaded("/database.db").count == uploadsBefore + 1)
        let last = try #require(w.fake.requests("files/upload").last?["arg"] as? [String: Any])
        #expect((last["mode"] as? [String: Any])?[".tag"] as? String == "update", "rev-guarded: \(last)")
        #expect(sideCopies(w).isEmpty, "\(sideCopies(w))")
        #expect(!FileManager.default.fileExists(atPath: w.db + ".entrypoint-failback.json"))
        // Dropbox's file and the running app's database hold both sites' writes.
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.sql(uploaded, MergeAtStartTests.byNaturalKeys) == Self.everyWrite)
        #expect(try DB.sql(uploaded, "PRAGMA integrity_check") == ["ok"] && DB.sql(uploaded, "PRAGMA foreign_key_check").isEmpty)
        #expect(try DB.sql(w.db, MergeAtStartTests.byNaturalKeys) == Self.everyWrite)
        // The next interval uploads nothing; the main server's pull takes the merged file whole.
        let again = try run(["--backup", "--auto"], env: w.env())
        #expect(again.status == 0 && again.stderr.contains("nothing uploaded"), "\(again.output)")
        #expect(w.fake.uploaded("/database.db").count == uploadsBefore + 1)
        #expect(try run([], env: mainEnv).status == 0)
        #expect(try DB.sql(mainDB, MergeAtStartTests.byNaturalKeys) == Self.everyWrite)
    }

    @Test func aMergeLongerThanTheLockTimeoutIsRolledBack() throws {
        let w = try World()
        _ = try diverged(w)
        let before = try DB.sql(w.db, MergeAtStartTests.byNaturalKeys)
        let uploadsBefore = w.fake.uploaded("/database.db").count
        // ENTRYPOINT_LOCK_TIMEOUT=0: the app's writes may not wait for the merge at all.
        let r = try run(["--backup", "--auto"], env: w.env(["ENTRYPOINT_LOCK_TIMEOUT": "0"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("would hold the app's write lock longer than ENTRYPOINT_LOCK_TIMEOUT (0s); it was rolled back, nothing was changed"), "\(r.output)")
        #expect(r.stderr.contains("uploaded this database beside it as"), "\(r.output)")
        // Nothing of the merge in the live database; Dropbox's file untouched; this volume's data beside it.
        #expect(try DB.sql(w.db, MergeAtStartTests.byNaturalKeys) == before)
        #expect(try DB.sql(w.db, "PRAGMA integrity_check") == ["ok"])
        #expect(w.fake.uploaded("/database.db").count == uploadsBefore)
        #expect(sideCopies(w).count == 1)
    }
}
