// `--backup --merge` against the fake Dropbox. The main server uploaded while Railway runs:
// a plain `--backup` refuses (76); `--backup --merge` merges Dropbox's changes into the live
// database and uploads the result over that rev, so Dropbox's file holds both sites' writes.
import Foundation
import TestSupport
import Testing

@Suite struct MergeOnUploadTests {
    @Test func backupMergeUploadsDropboxsFilePlusOurChanges() throws {
        let w = try World()
        let main = TempDir()
        let mainDB = main.file("main.db")
        let mainEnv = w.env(["RAILWAY_DB_PATH": mainDB])
        try DB.sql(mainDB, MergeAtStartTests.schema)
        #expect(try run(["--backup"], env: mainEnv).status == 0)
        // Railway restores that and takes bookings; it uploaded once.
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, MergeAtStartTests.book("B-204", "dave@x", "Dave", "thu 08", pay: 30))
        #expect(try run(["--backup"], env: w.env()).status == 0)
        // Railway keeps writing; the main server pulls Railway's upload, writes and uploads.
        try DB.sql(w.db, MergeAtStartTests.book("B-205", "erin@x", "Erin", "fri 16") + "UPDATE bookings SET slot = 'mon 15' WHERE ref = 'B-102';")
        #expect(try run([], env: mainEnv).status == 0)
        try DB.sql(
            mainDB, MergeAtStartTests.book("B-104", "carol@x", "Carol", "wed 14", pay: 90) + "UPDATE bookings SET status = 'cancelled' WHERE ref = 'B-101';")
        #expect(try run(["--backup"], env: mainEnv).status == 0)
        // Railway's plain backup refuses, as before.
        var r = try run(["--backup"], env: w.env())
        #expect(r.status == 76, "\(r.output)")
        let before = bytes(w.db)
        #expect(bytes(w.db) == before)
        // --backup --merge merges the main server's changes into Railway's database and uploads.
        r = try run(["--backup", "--merge"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("merging its changes into"), "\(r.output)")
        #expect(r.stderr.contains("merge: RE-KEYED bookings id="), "Railway's B-205 never reached Dropbox: \(r.output)")
        #expect(r.stderr.contains("Backed up"), "\(r.output)")
        let everyWrite = [
            "B-101 alice@x Alice mon 10 cancelled 50", "B-102 bob@x Bob mon 15 booked 70", "B-103 alice@x Alice tue 09 booked -",
            "B-104 carol@x Carol wed 14 booked 90", "B-204 dave@x Dave thu 08 booked 30", "B-205 erin@x Erin fri 16 booked -",
        ]
        #expect(try DB.sql(w.db, MergeAtStartTests.byNaturalKeys) == everyWrite)
        #expect(try DB.sql(w.db, "PRAGMA integrity_check") == ["ok"] && DB.sql(w.db, "PRAGMA foreign_key_check").isEmpty)
        // Dropbox's file is the merged one: the main server's next pull takes it whole.
        r = try run([], env: mainEnv)
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.sql(mainDB, MergeAtStartTests.byNaturalKeys) == everyWrite)
    }

    @Test func mergeAndForceCannotBeCombined() throws {
        let r = try run(["--backup", "--merge", "--force"], env: [:])
        #expect(r.status == 64 && r.stderr.contains("--merge and --force cannot be combined"), "\(r.output)")
    }
}
