// The exit codes of --backup on a damaged database and on Ctrl-C while hashing.
import Foundation
import TestSupport
import Testing

@Suite struct BackupExitCodeTests {
    /// A snapshot failing quick_check means the local database is damaged: exit 74 (docs/exit-codes.md).
    @Test func aDamagedLocalDatabaseIs74AndNothingIsUploaded() throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try DB.make(w.db, rows: ["x"], padding: 400_000)
        var data = try #require(bytes(w.db))
        for i in 8192..<8192 + 200 { data[i] = 0xA5 }
        try data.write(to: URL(fileURLWithPath: w.db))
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("quick_check") && r.stderr.contains("may be damaged"), "\(r.output)")
        #expect(w.fake.requests().allSatisfy { !(($0["route"] as? String) ?? "").contains("upload") })
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }

    /// Ctrl-C while the snapshot is hashed: 130 and the signal's line, not 74 "Interrupted system call".
    @Test func ctrlCWhileHashingIs130() throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('written-on-railway')")
        let r = try run(["--backup"], env: w.env(["ENTRYPOINT_TEST_SIGNAL_AT": "backup-hash:SIGINT"]))
        #expect(r.status == 128 + SIGINT, "\(r.output)")
        #expect(r.stderr.contains("stopped by SIGINT"), "\(r.output)")
        #expect(!r.stderr.contains("Interrupted system call"), "\(r.output)")
        #expect(w.fake.requests().allSatisfy { !(($0["route"] as? String) ?? "").contains("upload") })
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }
}
