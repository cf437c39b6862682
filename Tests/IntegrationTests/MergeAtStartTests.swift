// Merge at start against the fake Dropbox. Both sides changed since the state the volume
// last shared (its base, kept by every restore and upload): the start merges Dropbox's changes into
// the local database instead of replacing it. Checked by natural keys (booking references, emails).
import Foundation
import TestSupport
import Testing

@Suite struct MergeAtStartTests {
    static let schema = """
        CREATE TABLE customers(id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
        CREATE TABLE bookings(id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL UNIQUE,
          customer_id INTEGER NOT NULL REFERENCES customers(id), slot TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'booked');
        CREATE TABLE payments(id INTEGER PRIMARY KEY AUTOINCREMENT, booking_id INTEGER NOT NULL REFERENCES bookings(id), amount INTEGER NOT NULL);
        INSERT INTO customers(email, name) VALUES ('alice@x', 'Alice'), ('bob@x', 'Bob');
        INSERT INTO bookings(ref, customer_id, slot) VALUES ('B-101', 1, 'mon 10'), ('B-102', 2, 'mon 11'), ('B-103', 1, 'tue 09');
        INSERT INTO payments(booking_id, amount) VALUES (1, 50), (2, 70);
        """

    static func book(_ ref: String, _ email: String, _ name: String, _ slot: String, pay: Int? = nil) -> String {
        var sql = """
            INSERT OR IGNORE INTO customers(email, name) VALUES ('\(email)', '\(name)');
            INSERT INTO bookings(ref, customer_id, slot) VALUES ('\(ref)', (SELECT id FROM customers WHERE email = '\(email)'), '\(slot)');
            """
        if let pay { sql += "INSERT INTO payments(booking_id, amount) VALUES ((SELECT id FROM bookings WHERE ref = '\(ref)'), \(pay));" }
        return sql
    }

    static let byNaturalKeys = """
        SELECT b.ref || ' ' || c.email || ' ' || c.name || ' ' || b.slot || ' ' || b.status || ' ' || coalesce((SELECT group_concat(amount) FROM payments p WHERE p.booking_id = b.id), '-')
        FROM bookings b JOIN customers c ON c.id = b.customer_id ORDER BY b.ref
        """

    func env(_ w: World, _ db: String) -> [String: String] { w.env(["RAILWAY_DB_PATH": db]) }

    @Test(arguments: ["DELETE", "WAL"]) func theUnplannedOutageEndsWithEveryWriteInBothDatabases(journal: String) throws {
        let w = try World()
        let main = TempDir()
        let mainDB = main.file("main.db")
        // The main server's database, uploaded by its `entrypoint --backup` (its record and base).
        try DB.sql(mainDB, "PRAGMA journal_mode=\(journal);" + Self.schema)
        var r = try run(["--backup"], env: env(w, mainDB))
        #expect(r.status == 0, "\(r.output)")
        // It keeps taking bookings, then dies before its next upload.
        try DB.sql(mainDB, Self.book("B-104", "carol@x", "Carol", "wed 14", pay: 90) + "UPDATE bookings SET status = 'cancelled' WHERE ref = 'B-101';")
        // Railway restores the last upload and takes bookings; its periodic backup uploads them.
        r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        try DB.sql(
            w.db,
            "PRAGMA journal_mode=\(journal);" + Self.book("B-204", "dave@x", "Dave", "thu 08", pay: 30) + Self.book("B-205", "alice@x", "Alice", "fri 16")
                + "UPDATE bookings SET slot = 'mon 15' WHERE ref = 'B-102'; DELETE FROM bookings WHERE ref = 'B-103'; UPDATE customers SET name = 'Robert' WHERE email = 'bob@x';"
        )
        r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0 && r.stderr.contains("Backed up"), "\(r.output)")
        // Railway keeps writing after that upload.
        try DB.sql(w.db, Self.book("B-206", "erin@x", "Erin", "sat 10"))
        // The main server comes back: its start merges Dropbox's (Railway's) changes into its own database.
        r = try run([], env: env(w, mainDB))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("merging Dropbox's rev"), "\(r.output)")
        #expect(r.stderr.contains("merge: RE-KEYED customers id=3 -> "), "the main server's Carol never reached Dropbox: \(r.output)")
        #expect(!r.stderr.contains("Restored to"), "\(r.output)")
        let everyWrite = [
            "B-101 alice@x Alice mon 10 cancelled 50", "B-102 bob@x Robert mon 15 booked 70", "B-104 carol@x Carol wed 14 booked 90",
            "B-204 dave@x Dave thu 08 booked 30", "B-205 alice@x Alice fri 16 booked -",
        ]
        #expect(try DB.sql(mainDB, Self.byNaturalKeys) == everyWrite)
        #expect(try DB.sql(mainDB, "PRAGMA integrity_check") == ["ok"] && DB.sql(mainDB, "PRAGMA foreign_key_check").isEmpty)
        // Its backup uploads the merged database over Dropbox's rev it merged (no failback copy).
        r = try run(["--backup"], env: env(w, mainDB))
        #expect(r.status == 0 && r.stderr.contains("Backed up") && !r.stderr.contains("failback"), "\(r.output)")
        // Railway restarts after that upload: it keeps its own newest booking and gains the main server's.
        r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("merging Dropbox's rev"), "\(r.output)")
        #expect(try DB.sql(w.db, Self.byNaturalKeys) == (everyWrite + ["B-206 erin@x Erin sat 10 booked -"]).sorted())
        #expect(try DB.sql(w.db, "PRAGMA integrity_check") == ["ok"] && DB.sql(w.db, "PRAGMA foreign_key_check").isEmpty)
        // One database again: Railway's upload is the main server's next pull, which has nothing to merge.
        r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        r = try run([], env: env(w, mainDB))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.sql(mainDB, Self.byNaturalKeys) == DB.sql(w.db, Self.byNaturalKeys))
    }

    @Test func aSameRowConflictAtStartIsSetAsideAndNamed() throws {
        let w = try World()
        let main = TempDir()
        let mainDB = main.file("main.db")
        try DB.sql(mainDB, Self.schema)
        #expect(try run(["--backup"], env: env(w, mainDB)).status == 0)
        try DB.sql(mainDB, "UPDATE bookings SET slot = 'mon 12' WHERE ref = 'B-102';")
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "UPDATE bookings SET slot = 'mon 15' WHERE ref = 'B-102';")
        #expect(try run(["--backup"], env: w.env()).status == 0)
        // --check says what the merge would do, and changes nothing.
        let before = bytes(mainDB)
        let files = try FileManager.default.contentsOfDirectory(atPath: main.path).sorted()
        let check = try run(["--check"], env: env(w, mainDB))
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("result: would merge Dropbox's rev"), "\(check.stdout)")
        #expect(check.stdout.contains("merge preview: merge: CONFLICT DATA bookings id=2: changed differently on both sides"), "\(check.stdout)")
        #expect(check.stdout.contains("merge preview: merge: 1 change taken from the other side, 0 rows re-keyed, 1 conflict set aside"), "\(check.stdout)")
        #expect(bytes(mainDB) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: main.path).sorted() == files)
        let r = try run([], env: env(w, mainDB))
        #expect(r.status == 0, "a start with conflicts still starts: \(r.output)")
        let line = try #require(lines(r.stderr, containing: "merge: CONFLICT DATA bookings id=2").first, "\(r.output)")
        #expect(line.hasPrefix("entrypoint: warning: "))
        let conflicts = try #require(FileManager.default.contentsOfDirectory(atPath: main.path).first { $0.hasPrefix("main.conflicts-") })
        #expect(line.contains(main.file(conflicts)))
        #expect(try DB.sql(mainDB, "SELECT slot FROM bookings WHERE ref = 'B-102'") == ["mon 15"])
        #expect(try DB.sql(main.file(conflicts), "SELECT entrypoint_version || ' ' || slot FROM bookings") == ["local mon 12"])
    }

    @Test func aSchemaChangeIsRefusedAndNothingIsLost() throws {
        let w = try World()
        let main = TempDir()
        let mainDB = main.file("main.db")
        try DB.sql(mainDB, Self.schema)
        #expect(try run(["--backup"], env: env(w, mainDB)).status == 0)
        try DB.sql(mainDB, Self.book("B-104", "carol@x", "Carol", "wed 14"))
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "ALTER TABLE bookings ADD COLUMN note TEXT;" + Self.book("B-204", "dave@x", "Dave", "thu 08"))
        #expect(try run(["--backup"], env: w.env()).status == 0)
        let r = try run([], env: env(w, mainDB))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("warning: table bookings: changed in Dropbox's rev"), "\(r.output)")
        #expect(r.stderr.contains("KEPT A COPY"), "today's rule: Dropbox's file installed, the local one kept: \(r.output)")
        #expect(try DB.sql(mainDB, "SELECT ref FROM bookings ORDER BY ref") == ["B-101", "B-102", "B-103", "B-204"])
        let kept = try #require(
            FileManager.default.contentsOfDirectory(atPath: main.path).first {
                $0.hasPrefix("main.db.local-") && !$0.contains("-wal") && !$0.contains("-journal")
            })
        #expect(try DB.sql(main.file(kept), "SELECT ref FROM bookings ORDER BY ref") == ["B-101", "B-102", "B-103", "B-104"])
    }
}

@Suite struct MergeAtStartCrashTests {
    /// A kill at any point of a merge at start: the database is whole (the old one, or the merged one),
    /// and the next start ends with every write of both sides, the temporaries removed.
    @Test func aKillAtAnyPointOfTheMergeLosesNothing() throws {
        let points = ["downloaded", "merge-verified", "merge-conflicts-written", "merge-before-rename", "merge-after-rename", "merge-after-record"]
        for point in points {
            let w = try World()
            let main = TempDir()
            let mainDB = main.file("main.db")
            try DB.sql(mainDB, "PRAGMA journal_mode=WAL;" + MergeAtStartTests.schema)
            #expect(try run(["--backup"], env: w.env(["RAILWAY_DB_PATH": mainDB])).status == 0)
            try DB.sql(
                mainDB, MergeAtStartTests.book("B-104", "carol@x", "Carol", "wed 14", pay: 90) + "UPDATE bookings SET slot = 'mon 12' WHERE ref = 'B-102';")
            #expect(try run([], env: w.env()).status == 0)
            try DB.sql(w.db, MergeAtStartTests.book("B-204", "dave@x", "Dave", "thu 08") + "UPDATE bookings SET slot = 'mon 15' WHERE ref = 'B-102';")
            #expect(try run(["--backup"], env: w.env()).status == 0)
            let killed = try run([], env: w.env(["RAILWAY_DB_PATH": mainDB, "ENTRYPOINT_TEST_CRASH_AT": point]))
            #expect(killed.status == 137 || killed.status == -9 || killed.status == 9, "\(point): \(killed.output)")
            let refs = try DB.sql(mainDB, "SELECT ref FROM bookings ORDER BY ref")
            #expect(refs == ["B-101", "B-102", "B-103", "B-104"] || refs == ["B-101", "B-102", "B-103", "B-104", "B-204"], "\(point): \(refs)")
            #expect(try DB.sql(mainDB, "PRAGMA integrity_check") == ["ok"], "\(point)")
            let r = try run([], env: w.env(["RAILWAY_DB_PATH": mainDB]))
            #expect(r.status == 0, "\(point): \(r.output)")
            #expect(
                try DB.sql(mainDB, "SELECT ref || ' ' || c.email || ' ' || slot FROM bookings b JOIN customers c ON c.id = b.customer_id ORDER BY ref") == [
                    "B-101 alice@x mon 10", "B-102 bob@x mon 15", "B-103 alice@x tue 09", "B-104 carol@x wed 14", "B-204 dave@x thu 08",
                ], "\(point): \(r.output)")
            #expect(try DB.sql(mainDB, "PRAGMA foreign_key_check").isEmpty, "\(point)")
            let names = try FileManager.default.contentsOfDirectory(atPath: main.path)
            #expect(
                !names.contains {
                    $0.contains(".entrypoint-merge-") || $0.contains(".entrypoint-download-") || $0.contains("-tmp-") || $0.contains(".entrypoint-conflicts-")
                }, "\(point): \(names)")
            // The local version of B-102 is set aside, in one conflicts database or (a kill after it was written) two.
            let conflicts = names.filter { $0.hasPrefix("main.conflicts-") }
            #expect(!conflicts.isEmpty, "\(point): \(names)")
            for c in conflicts { #expect(try DB.sql(main.file(c), "SELECT entrypoint_version || ' ' || slot FROM bookings") == ["local mon 12"], "\(point)") }
        }
    }
}
