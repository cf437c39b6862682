import TestSupport
// The data hash: a snapshot's equals its live database's in every journal mode (the header fields
// the online backup rewrites are left out), and it is defined for empty and tiny files.
import Testing

@testable import EntrypointCore

@Suite struct DataHashTests {
    /// The online backup API (WAL) rewrites header fields; the data hash of the snapshot is the live
    /// file's. A rollback-journal snapshot is the live file byte for byte.
    @Test(arguments: ["DELETE", "WAL", "PERSIST", "TRUNCATE"])
    func snapshotHasTheLiveDatabasesDataHash(journalMode: String) throws {
        let dir = TempDir()
        let db = dir.file("live.db")
        let copy = dir.file("copy.db")
        try DB.sql(db, "PRAGMA journal_mode=\(journalMode); CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(5000)), (randomblob(9000000));")
        _ = try SQLite.normalize(db, log: Logger(level: .error))
        try SQLite.snapshot(db, to: copy)
        let live = try DataHash.ofFile(db)
        let snap = try DataHash.ofFile(copy)
        if journalMode == "WAL" {
            #expect(live.content != snap.content, "the backup API changes header bytes, so the content hashes differ")
        } else {
            #expect(live.content == snap.content, "the file's bytes, copied in checked steps")
        }
        #expect(live.data == snap.data)
        #expect(live.content == (try ContentHash.ofFile(db)))
        // One committed row more: the data hash changes.
        try DB.sql(db, "PRAGMA journal_mode=\(journalMode); INSERT INTO t VALUES (1);")
        _ = try SQLite.normalize(db, log: Logger(level: .error))
        #expect(try DataHash.ofFile(db).data != snap.data)
    }

    @Test func emptyFileAndTinyFile() throws {
        let dir = TempDir()
        let empty = dir.file("empty")
        try FileIO.writeAtomically(empty, [], mode: 0o600)
        #expect(try DataHash.ofFile(empty).data == ContentHash.empty)
        let tiny = dir.file("tiny")
        try FileIO.writeAtomically(tiny, Array(repeating: 7, count: 30), mode: 0o600)
        let h = try DataHash.ofFile(tiny)
        #expect(h.content == (try ContentHash.ofFile(tiny)))
        #expect(h.data != h.content, "bytes 18-19 and 24-27 are masked")
    }
}
