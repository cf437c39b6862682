// The supervisor's backups (`--backup --auto`) merge a Dropbox file that
// moved on since the base (the main server uploaded while Railway runs) into the running app's
// database and upload the result, rev-guarded, instead of a failback copy. The running app's rows
// that collide with the main server's are re-keyed (only rows that never reached Dropbox), each
// named in a warning. The merge holds the app's write lock at most ENTRYPOINT_LOCK_TIMEOUT.
import Foundation
import TestSupport
import Testing

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
        try DB.sql(
            mainDB, MergeAtStartTests.book("B-104", "carol@x", "Carol", "wed 14", pay: 90) + "UPDATE bookings SET status = 'cancelled' WHERE ref = 'B-101';")
        #expect(try run(["--backup"], env: mainEnv).status == 0)
        return (mainDB, mainEnv, dir)
    }

    static let everyWrite = [
        "B-101 alice@x Alice mon 10 cancelled 50", "B-102 bob@x Bob mon 15 booked 70", "B-103 alice@x Alice tue 09 booked -",
        "B-104 carol@x Carol wed 14 booked 90", "B-204 dave@x Dave thu 08 booked 30", "B-205 erin@x Erin fri 16 booked -",
    ]

    func sideCopies(_ w: World) -> [String] {
        let json =
            FileManager.default.contents(atPath: w.fake.state.file("uploaded.json"))
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
        #expect(
            r.stderr.contains("would hold the app's write lock longer than ENTRYPOINT_LOCK_TIMEOUT (0s); it was rolled back, nothing was changed"),
            "\(r.output)")
        #expect(r.stderr.contains("uploaded this database beside it as"), "\(r.output)")
        // Nothing of the merge in the live database; Dropbox's file untouched; this volume's data beside it.
        #expect(try DB.sql(w.db, MergeAtStartTests.byNaturalKeys) == before)
        #expect(try DB.sql(w.db, "PRAGMA integrity_check") == ["ok"])
        #expect(w.fake.uploaded("/database.db").count == uploadsBefore)
        #expect(sideCopies(w).count == 1)
    }

    /// An app that commits all along (its own busy timeout, as a real app has) in WAL or rollback-
    /// journal mode: the merge is one transaction beside it; no commit of the app fails or is lost.
    @Test(arguments: ["WAL", "DELETE"]) func theAppKeepsCommittingDuringTheMerge(journalMode: String) throws {
        let w = try World()
        _ = try diverged(w)
        let dir = TempDir()
        let stop = dir.file("stop")
        let out = dir.file("out")
        let script = """
            import os, sqlite3, sys, time
            db, stop, out, mode = sys.argv[1:5]
            c = sqlite3.connect(db, timeout=30, isolation_level=None)
            c.execute('PRAGMA journal_mode=' + mode)
            n = failed = 0
            while not os.path.exists(stop) or n < 5:
                try:
                    c.execute('BEGIN IMMEDIATE')
                    c.execute("INSERT INTO bookings(ref, customer_id, slot) VALUES (?, (SELECT id FROM customers WHERE email = 'alice@x'), 'app')", ('APP-%03d' % n,))
                    c.execute('COMMIT')
                    n += 1
                except sqlite3.Error as e:
                    failed += 1
                    print(e, file=sys.stderr)
                    try: c.execute('ROLLBACK')
                    except sqlite3.Error: pass
                if n == 1 and not os.path.exists(out + '.started'): open(out + '.started', 'w').close()
                time.sleep(0.005)
            c.close()
            open(out, 'w').write('%d %d' % (n, failed))
            """
        let app = try Spawned("/usr/bin/env", ["python3", "-c", script, w.db, stop, out, journalMode], env: ProcessInfo.processInfo.environment)
        let giveUp = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: out + ".started") && Date() < giveUp { usleep(10_000) }
        let r = try run(["--backup", "--auto"], env: w.env())
        FileManager.default.createFile(atPath: stop, contents: Data())
        let done = app.finish(timeout: 60)
        #expect(done.status == 0 && !done.timedOut, "\(String(decoding: done.stderr, as: UTF8.self))")
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("merging its changes into") && r.stderr.contains("Backed up"), "\(r.output)")
        let counts = (try? String(contentsOfFile: out, encoding: .utf8))?.split(separator: " ").compactMap { Int($0) } ?? []
        try #require(counts.count == 2, "the app's summary: \(String(decoding: done.stderr, as: UTF8.self))")
        #expect(counts[1] == 0, "app commits failed: \(String(decoding: done.stderr, as: UTF8.self))")
        // Every commit of the app is in its database, beside both sites' writes.
        #expect(try DB.sql(w.db, "SELECT count(*) FROM bookings WHERE ref LIKE 'APP-%'") == [String(counts[0])])
        #expect(try DB.sql(w.db, MergeAtStartTests.byNaturalKeys).filter { !$0.hasPrefix("APP-") } == Self.everyWrite)
        #expect(try DB.sql(w.db, "PRAGMA integrity_check") == ["ok"] && DB.sql(w.db, "PRAGMA foreign_key_check").isEmpty)
        // Dropbox's file holds both sites' writes too (and the app's commits up to its snapshot).
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.sql(uploaded, MergeAtStartTests.byNaturalKeys).filter { !$0.hasPrefix("APP-") } == Self.everyWrite)
    }

    /// A WAL app that holds its write lock longer than ENTRYPOINT_LOCK_TIMEOUT: the snapshot still
    /// reads (WAL), the merge does not start (one line naming the setting, exit 74), nothing changes;
    /// once the app lets go, the next backup merges.
    @Test func anAppHoldingItsLockLongerThanTheLockTimeoutDefersTheMerge() throws {
        let w = try World()
        _ = try diverged(w)
        try DB.sql(w.db, "PRAGMA journal_mode=WAL")
        let before = try DB.sql(w.db, MergeAtStartTests.byNaturalKeys)
        let uploadsBefore = w.fake.uploaded("/database.db").count
        let dir = TempDir()
        let holding = dir.file("holding")
        let script = """
            import os, sqlite3, sys, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            c.execute('BEGIN IMMEDIATE')
            c.execute("UPDATE bookings SET slot = slot WHERE ref = 'B-103'")
            open(sys.argv[2], 'w').close()
            time.sleep(6)
            c.execute('ROLLBACK')
            """
        let app = try Spawned("/usr/bin/env", ["python3", "-c", script, w.db, holding], env: ProcessInfo.processInfo.environment)
        let giveUp = Date().addingTimeInterval(30)
        while !FileManager.default.fileExists(atPath: holding) && Date() < giveUp { usleep(10_000) }
        let r = try run(["--backup", "--auto"], env: w.env(["ENTRYPOINT_LOCK_TIMEOUT": "1"]))
        #expect(r.status == 74, "\(r.output)")
        #expect(
            r.stderr.contains("the app kept \(w.db) locked for more than 1s (ENTRYPOINT_LOCK_TIMEOUT); the merge was not made, nothing was changed"),
            "\(r.output)")
        #expect(app.finish(timeout: 60).status == 0)
        #expect(try DB.sql(w.db, MergeAtStartTests.byNaturalKeys) == before)
        #expect(w.fake.uploaded("/database.db").count == uploadsBefore)
        #expect(sideCopies(w).isEmpty)
        let again = try run(["--backup", "--auto"], env: w.env(["ENTRYPOINT_LOCK_TIMEOUT": "1"]))
        #expect(again.status == 0 && again.stderr.contains("Backed up"), "\(again.output)")
        #expect(try DB.sql(w.db, MergeAtStartTests.byNaturalKeys) == Self.everyWrite)
    }
}
