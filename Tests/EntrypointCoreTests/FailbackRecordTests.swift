// The failback record: the side copy's name beside Dropbox's file, and the record saved and loaded
// with the divergence it belongs to.
import Glibc
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct FailbackRecordTests {
    @Test(arguments: [
        ("/database.db", 1, "/database.failback-20261201T193000Z.db"),
        ("/database.db", 2, "/database.failback-20261201T193000Z-2.db"),
        ("/Data/prod/app.sqlite3", 1, "/Data/prod/app.failback-20261201T193000Z.sqlite3"),
        ("/db", 1, "/db.failback-20261201T193000Z"),
        ("/Backups/db", 3, "/Backups/db.failback-20261201T193000Z-3"),
        ("/.hidden", 1, "/.hidden.failback-20261201T193000Z"),
        ("/a.b.db", 1, "/a.b.failback-20261201T193000Z.db"),
        ("/dir.v2/db", 1, "/dir.v2/db.failback-20261201T193000Z"),
    ])
    func sideCopyNames(remote: String, attempt: Int, expected: String) {
        #expect(FailbackRecord.sidePath(remote, stamp: "20261201T193000Z", attempt: attempt) == expected)
    }

    @Test func savesAndLoads() throws {
        let dir = TempDir()
        let db = dir.file("x.db")
        #expect(FailbackRecord.load(db) == nil)
        let record = FailbackRecord(
            path: "/database.failback-20261201T193000Z.db", rev: "0123456789abcdef", contentHash: String(repeating: "a", count: 64),
            dataHash: String(repeating: "b", count: 64), size: 12288, time: "2026-12-01T19:30:00Z", remotePath: "/database.db", remoteRev: "fedcba9876543210")
        try record.save(db)
        #expect(FailbackRecord.load(db) == record)
        // The divergence it belongs to (one side copy per divergence, updated in place).
        var withBase = record
        withBase.baseRev = "00112233aabbccdd"
        try withBase.save(db)
        #expect(FailbackRecord.load(db)?.baseRev == "00112233aabbccdd")
        try FailbackRecord.remove(db)
        #expect(FailbackRecord.load(db) == nil)
        try FailbackRecord.remove(db)  // nothing to remove is fine
    }
}
