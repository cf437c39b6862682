// Normalization follows SQLite's own hot-journal rule; one rule for an unusable
// local database, with or without sidecars.
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

/// The first bytes of the hot journal magic, for assertions.
func journalHead(_ db: String) -> [UInt8] {
    Array((FileManager.default.contents(atPath: db + "-journal") ?? Data()).prefix(8))
}

@Suite struct NormalizeTests {
    let quiet = Logger(level: .error, fd: -1)

    /// Apps that closed cleanly in each journal mode leave their files; normalization never stops
    /// on them, and the main file alone holds every commit afterwards.
    @Test(arguments: ["DELETE", "WAL", "PERSIST", "TRUNCATE"])
    func cleanlyClosedAppInEachJournalMode(journalMode: String) throws {
        let dir = TempDir()
        let db = dir.file("app.db")
        try DB.sql(db, "CREATE TABLE items(name TEXT);")
        try python(
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1])
            c.execute('PRAGMA journal_mode=\(journalMode)')
            for i in range(5):
                c.execute('INSERT INTO items VALUES (?)', (f'row-{i}',)); c.commit()
            c.close()
            """, db)
        let fm = FileManager.default
        if journalMode == "PERSIST" || journalMode == "TRUNCATE" {
            #expect(fm.fileExists(atPath: db + "-journal"), "the app left its cold journal")
            #expect(!SQLite.journalLooksHot(db))
        }
        #expect(try SQLite.normalize(db, log: quiet) == .complete)
        #expect(!fm.fileExists(atPath: db + "-wal") && !fm.fileExists(atPath: db + "-shm"))
        let alone = dir.file("alone.db")
        try fm.copyItem(atPath: db, toPath: alone)
        #expect(try DB.sql(alone, "SELECT count(*) FROM items") == ["5"])
    }

    /// A zero-length or zeroed journal is cold whatever its name says; one with the magic may be hot.
    @Test func journalMagicRule() throws {
        let dir = TempDir()
        let db = dir.file("j.db")
        try DB.sql(db, "CREATE TABLE t(x);")
        try Data().write(to: URL(fileURLWithPath: db + "-journal"))
        #expect(!SQLite.journalLooksHot(db))
        #expect(SQLite.pendingSidecars(db).isEmpty)
        try Data(repeating: 0, count: 512).write(to: URL(fileURLWithPath: db + "-journal"))
        #expect(!SQLite.journalLooksHot(db))
        try Data(SQLite.journalMagic + [UInt8](repeating: 1, count: 504)).write(to: URL(fileURLWithPath: db + "-journal"))
        #expect(SQLite.journalLooksHot(db))
        #expect(SQLite.pendingSidecars(db) == [db + "-journal"])
    }

    /// A writer killed in the middle of a big transaction (pages already spilled into the main file):
    /// the hot journal is rolled back by SQLite, never simply deleted.
    @Test func hotJournalOfAKilledWriterIsRolledBack() throws {
        let dir = TempDir()
        let db = dir.file("hot.db")
        try DB.sql(db, "CREATE TABLE items(name TEXT); CREATE TABLE pad(b BLOB); INSERT INTO items VALUES ('committed');")
        let before = try DataHash.ofFile(db)
        try killWriterMidTransaction(db)
        #expect(journalHead(db) == SQLite.journalMagic, "the killed writer left a hot journal")
        #expect((FileManager.default.contents(atPath: db)?.count ?? 0) > 1_000_000, "pages were spilled into the main file")
        #expect(try SQLite.normalize(db, log: quiet) == .complete)
        #expect(!FileManager.default.fileExists(atPath: db + "-journal"))
        #expect(try DB.sql(db, "PRAGMA integrity_check") == ["ok"])
        #expect(try DB.sql(db, "SELECT name FROM items") == ["committed"])
        #expect(try DataHash.ofFile(db).data == before.data, "rolled back to exactly the committed state")
    }

    /// A journal with the magic while another process holds its transaction (its lock) is that
    /// process's live transaction, not a hot journal: exit 74 (after SQLite's 5 s busy wait), nothing touched.
    @Test func journalOfALiveTransactionIsAnotherProcess() throws {
        let dir = TempDir()
        let db = dir.file("busy.db")
        try DB.sql(db, "CREATE TABLE items(name TEXT); CREATE TABLE pad(b BLOB); INSERT INTO items VALUES ('committed');")
        let ready = dir.file("ready")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [
            "python3", "-c",
            """
            import sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute('PRAGMA cache_size=10')
            c.execute('BEGIN IMMEDIATE'); c.execute("INSERT INTO items VALUES ('open')")
            for i in range(2000):
                c.execute('INSERT INTO pad VALUES (randomblob(3000))')  # spills: the journal gets its magic
            open(sys.argv[2], 'w').close()
            time.sleep(30)
            """, db, ready,
        ]
        try p.run()
        defer {
            kill(p.processIdentifier, SIGKILL)  // the test runner's blocked signals are inherited: not SIGTERM
            p.waitUntilExit()
        }
        for _ in 0..<400 where !FileManager.default.fileExists(atPath: ready) { usleep(25_000) }
        try #require(FileManager.default.fileExists(atPath: ready))
        #expect(journalHead(db) == SQLite.journalMagic)
        #expect { try SQLite.normalize(db, log: quiet) } throws: {
            let e = $0 as! EntrypointError
            return e.code == .localIO && e.message.contains(db) && e.message.contains("another process")
        }
        #expect(journalHead(db) == SQLite.journalMagic, "the live transaction's journal is left alone")
    }

    /// One rule for a damaged file, with or without sidecars: unusable, left untouched (no exit 74).
    @Test(arguments: [false, true])
    func damagedDatabaseIsUnusableWithOrWithoutSidecars(sidecars: Bool) throws {
        let dir = TempDir()
        let db = dir.file("damaged.db")
        try DB.sql(db, "CREATE TABLE items(name TEXT); INSERT INTO items VALUES ('x');")
        var data = try Data(contentsOf: URL(fileURLWithPath: db))
        for i in 100..<1024 { data[i] = 0xFF }  // page 1's b-tree: the schema cannot be read
        try data.write(to: URL(fileURLWithPath: db))
        if sidecars {
            try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: URL(fileURLWithPath: db + "-wal"))
            try Data(repeating: 0, count: 32768).write(to: URL(fileURLWithPath: db + "-shm"))
            try Data(repeating: 0, count: 512).write(to: URL(fileURLWithPath: db + "-journal"))
        }
        let result = try SQLite.normalize(db, log: quiet)
        guard case .unusable(let reason) = result else {
            Issue.record("expected unusable, got \(result)")
            return
        }
        #expect(reason.contains("SQLite"), "\(reason)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: db)) == data, "the damaged file is left as it was")
        // No header at all: the same rule.
        try Data("not a database at all, just text".utf8).write(to: URL(fileURLWithPath: db))
        #expect(try SQLite.normalize(db, log: quiet) == .unusable(reason: "no \"SQLite format 3\" header"))
    }
}
