// Journals that apps leave behind, a real hot journal, one rule for a damaged database.
import Foundation
import TestSupport
import Testing

/// Journals that apps leave behind, a real hot journal, and one rule for a damaged database.
@Suite struct JournalTests {
    /// PERSIST and TRUNCATE leave a cold -journal after a clean close: no exit 74; when a new rev is
    /// installed, the cold journal goes beside the copy, never beside the new database.
    @Test(arguments: ["PERSIST", "TRUNCATE"])
    func coldJournalNeverStopsTheStartNorSitsBesideTheNewDatabase(journalMode: String) throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try appCommits(["local"], to: w.db, journalMode: journalMode)
        #expect(FileManager.default.fileExists(atPath: w.db + "-journal"))
        var r = try run(["sh", "-c", "echo app-started"], env: w.env())
        #expect(r.status == 0 && r.stdout.contains("app-started"), "\(r.output)")
        #expect(try DB.items(w.db) == ["base", "local"])

        try w.publish(["remote-2"])
        r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["remote-2"])
        #expect(!FileManager.default.fileExists(atPath: w.db + "-journal"), "no old journal beside the new database")
        let copies = w.leftovers().filter { $0.hasPrefix("production.db.local-") && !$0.hasSuffix("-journal") }
        #expect(copies.count == 1, "\(w.leftovers())")
        if let copy = copies.first {
            #expect(w.leftovers().contains(copy + "-journal"), "the cold journal went beside the copy: \(w.leftovers())")
            #expect(try DB.items(w.volume.path + "/database/" + copy) == ["base", "local"])
        }
    }

    /// A writer killed in the middle of a big transaction leaves a hot journal: SQLite rolls it back
    /// (it is not deleted), the database is the committed state, and nothing is downloaded.
    @Test func hotJournalOfAKilledWriterIsRolledBack() throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        let status = try killWriterMidTransaction(w.db)
        #expect(status == 128 + SIGKILL)
        let journal = FileManager.default.contents(atPath: w.db + "-journal") ?? Data()
        #expect(Array(journal.prefix(8)) == [0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7], "a hot journal")
        // --check rolls back a copy, not the volume's files, and decides as the restore will.
        let dbBefore = bytes(w.db)
        let check = try run(["--check"], env: w.env())
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("result: no download needed"), "\(check.stdout)")
        #expect(check.stdout.contains("of a checkpointed copy"), "\(check.stdout)")
        #expect(bytes(w.db + "-journal") == journal && bytes(w.db) == dbBefore, "--check changed nothing")
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(DB.integrity(w.db) == "ok")
        #expect(try DB.items(w.db) == ["base"])
        #expect(!FileManager.default.fileExists(atPath: w.db + "-journal"))
        #expect(r.stderr.contains("No download needed"), "\(r.stderr)")
        #expect(w.fake.requests("files/download").count == 1)
    }

    /// --backup of a database with a hot journal (a writer killed in a big transaction, whose
    /// spilled pages are already in the database file): the snapshot's read lock rolls the journal
    /// back first, so the upload is the committed state, never the dead writer's half.
    @Test func aBackupUploadsTheCommittedStateOfADatabaseWithAHotJournal() throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('committed-on-railway')")
        let status = try killWriterMidTransaction(w.db)
        #expect(status == 128 + SIGKILL)
        let journal = FileManager.default.contents(atPath: w.db + "-journal") ?? Data()
        #expect(Array(journal.prefix(8)) == [0xD9, 0xD5, 0x05, 0xF9, 0x20, 0xA1, 0x63, 0xD7], "a hot journal")
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let stored = try #require(w.fake.uploaded("/database.db").last, "\(r.output)")
        #expect(DB.integrity(stored) == "ok")
        #expect(try DB.items(stored) == ["base", "committed-on-railway"])
        #expect(try DB.items(w.db) == ["base", "committed-on-railway"])
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }

    /// One rule for a damaged local database, with or without sidecars: kept as a copy (its sidecars
    /// beside it), replaced by Dropbox's verified file, one warning line; never exit 74.
    @Test(arguments: [false, true])
    func damagedLocalDatabaseIsKeptAsACopyAndReplaced(sidecars: Bool) throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        var data = try #require(bytes(w.db))
        for i in 100..<1024 { data[i] = 0xFF }
        try data.write(to: URL(fileURLWithPath: w.db))
        if sidecars {
            try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: w.db + "-wal"))
            try Data(repeating: 0, count: 32768).write(to: URL(fileURLWithPath: w.db + "-shm"))
            try Data(repeating: 0, count: 512).write(to: URL(fileURLWithPath: w.db + "-journal"))
        }
        let r = try run(["sh", "-c", "echo app-started"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("app-started"))
        let warnings = lines(r.stderr, containing: "warning:")
        #expect(warnings.count == 1, "\(r.stderr)")
        #expect(warnings.first?.contains("not a usable SQLite database") == true, "\(r.stderr)")
        #expect(try DB.items(w.db) == ["base"])
        #expect(DB.integrity(w.db) == "ok")
        for suffix in ["-wal", "-shm", "-journal"] { #expect(!FileManager.default.fileExists(atPath: w.db + suffix), "\(suffix)") }
        let copies = w.leftovers().filter { $0.hasPrefix("production.db.local-") && !SQLiteSuffixes.all.contains(where: $0.hasSuffix) }
        #expect(copies.count == 1, "\(w.leftovers())")
        if let copy = copies.first {
            #expect(bytes(w.volume.path + "/database/" + copy) == data, "the damaged file is kept as it was")
            // Its sidecars went with it (SQLite may have removed the garbage -wal and -shm on close).
            #expect(w.leftovers().allSatisfy { $0 == copy || $0.hasPrefix(copy + "-") }, "\(w.leftovers())")
            if sidecars { #expect(w.leftovers().contains(copy + "-journal"), "\(w.leftovers())") }
        }
    }
}
