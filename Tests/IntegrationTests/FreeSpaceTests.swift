// A backup never takes the app's disk. On a volume with less free space than the
// database, a snapshot would fill it and the app's commits would fail; it is skipped instead.
import Foundation
import TestSupport
import Testing

@Suite struct FreeSpaceTests {
    /// Supervises an app on `db` that commits a row every 10 ms for 4 s (Python's sqlite3, a normal
    /// 5 s busy timeout) in `journalMode`, with a backup every second and one on stop; returns the
    /// run and the app's counts of commits made and failed.
    func superviseCommittingApp(_ w: World, db: String, journalMode: String) throws -> (RunResult, [Int]) {
        let app = """
            import os, sqlite3, time
            c = sqlite3.connect(os.environ["RAILWAY_DB_PATH"], timeout=5)  # a normal busy timeout
            c.execute("PRAGMA journal_mode=\(journalMode)")
            ok = failed = 0
            end = time.monotonic() + 4
            while time.monotonic() < end:
                try:
                    c.execute("INSERT INTO items VALUES (?)", ("row-%d" % ok,))
                    c.commit()
                    ok += 1
                except sqlite3.OperationalError as e:
                    failed += 1
                    c.rollback()
                time.sleep(0.01)
            print(ok, failed)
            """
        let r = try run(
            ["python3", "-c", app], env: w.env(["RAILWAY_DB_PATH": db, "ENTRYPOINT_BACKUP_INTERVAL": "1", "ENTRYPOINT_BACKUP_ON_STOP": "1"]), timeout: 60)
        #expect(r.status == 0, "\(r.output)")
        return (r, r.stdout.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int($0) })
    }
    @Test(.enabled(if: Mount.canMountTmpfs, "skipped: needs root with mount rights for a small tmpfs"))
    func aVolumeSmallerThanTwiceTheDatabaseNeverFailsTheAppsCommits() throws {
        // 10 MiB: room for the 6 MiB database and the app's commits, not for a second copy.
        let volume = try Mount("tmpfs", megabytes: 10)
        let w = try World()
        try w.publish(["base"], padding: 6_000_000)
        let db = volume.path + "/database/production.db"
        let (r, counts) = try superviseCommittingApp(w, db: db, journalMode: "DELETE")
        #expect(counts.count == 2 && counts[0] > 0, "\(r.output)")
        #expect(counts.last == 0, "commits failed because of a backup: \(r.output)")
        #expect(r.stderr.contains("backup skipped: the volume of \(db) has"), "\(r.stderr)")
        #expect(r.stderr.contains("(ENTRYPOINT_BACKUP_RESERVE_MB)"), "\(r.stderr)")
        #expect(r.stderr.contains("periodic backup failed (exit 74"), "tried again at the next interval: \(r.stderr)")
        #expect(w.fake.requests("files/upload").isEmpty)
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: volume.path + "/database").filter { $0.contains("entrypoint-backup") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func withRoomTheBackupRuns() throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('new')")
        // A reserve no volume has: skipped with the line; without it, the same backup uploads.
        var r = try run(["--backup"], env: w.env(["ENTRYPOINT_BACKUP_RESERVE_MB": "1000000"]))
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("backup skipped: the volume of"), "\(r.stderr)")
        #expect(w.fake.requests("files/upload").isEmpty)
        r = try run(["--backup"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(try #require(w.fake.uploaded("/database.db").last)) == ["base", "new"])
    }

    /// A WAL database's backup streams (no copy on the volume): it needs no free space for a
    /// snapshot, so a reserve no volume has does not stop it, and on a volume too small for a
    /// second copy the app's commits go on while every backup uploads.
    @Test func aWALDatabaseIsBackedUpWithoutRoomForACopy() throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "PRAGMA journal_mode=WAL; INSERT INTO items VALUES ('new')")
        let r = try run(["--backup"], env: w.env(["ENTRYPOINT_BACKUP_RESERVE_MB": "1000000"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(try #require(w.fake.uploaded("/database.db").last)) == ["base", "new"])
    }

    @Test(.enabled(if: Mount.canMountTmpfs, "skipped: needs root with mount rights for a small tmpfs"))
    func aWALAppOnAVolumeSmallerThanTwiceTheDatabaseIsBackedUp() throws {
        let volume = try Mount("tmpfs", megabytes: 10)
        let w = try World()
        try w.publish(["base"], padding: 6_000_000)
        let db = volume.path + "/database/production.db"
        let (r, counts) = try superviseCommittingApp(w, db: db, journalMode: "WAL")
        #expect(counts.count == 2 && counts[0] > 0 && counts[1] == 0, "\(r.output)")
        #expect(!r.stderr.contains("backup skipped"), "\(r.stderr)")
        #expect(r.stderr.contains("no copy on the volume"), "\(r.stderr)")
        let last = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(last).count == counts[0] + 1, "the stop backup holds every commit")
    }

    /// The WAL grows behind a streamed backup's read transaction by everything the app commits
    /// during the upload. When the volume's free space falls below ENTRYPOINT_BACKUP_RESERVE_MB,
    /// the backup gives way (ends its read; the app's WAL stops growing once SQLite can reset it)
    /// and, with no room for a copy either, is skipped: the app's commits never fail for it.
    @Test(.enabled(if: Mount.canMountTmpfs, "skipped: needs root with mount rights for a small tmpfs"))
    func aStreamedBackupGivesWayWhenTheWALEatsTheReserve() throws {
        let volume = try Mount("tmpfs", megabytes: 30)  // 10 MiB database, 16 MiB reserve: 4 MiB for the WAL
        let w = try World()
        let db = volume.path + "/database/production.db"
        try w.publish(["base"], padding: 10_000_000)  // three chunks of 4 MiB: start, append, finish
        #expect(try run([], env: w.env(["RAILWAY_DB_PATH": db])).status == 0)
        try DB.sql(db, "PRAGMA journal_mode=WAL; INSERT INTO items VALUES ('streamed'); PRAGMA wal_checkpoint(TRUNCATE);")
        // The first append waits 30 s in Dropbox: the backup's read transaction is held meanwhile.
        try w.fake.fault(["route": "files/upload_session/append_v2", "kind": "delay", "seconds": 30])
        let p = try Spawned(Paths.binary, ["--backup"], env: w.env(["RAILWAY_DB_PATH": db, "ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(eventually(30) { w.fake.requests("files/upload_session/start").count == 1 }, "the upload began")
        // The app commits a 4 KB row every 5 ms for 10 s (about 24 MiB of WAL frames, more than the
        // 20 MiB free), Python's default 5 s busy timeout, staying connected. Held behind the
        // backup's reader the WAL would fill the volume; after the backup gives way, SQLite's own
        // automatic checkpoints reset it and it stops growing.
        let out = try python(
            """
            import sqlite3, sys, os, time
            c = sqlite3.connect(sys.argv[1], isolation_level=None)
            failed, errors = 0, set()
            end = time.monotonic() + 10
            while time.monotonic() < end:
                try:
                    c.execute('INSERT INTO pad VALUES (randomblob(4000))')
                except sqlite3.OperationalError as e:
                    failed += 1
                    errors.add(str(e))
                time.sleep(0.005)
            print('failed', failed, sorted(errors), flush=True)
            os._exit(0)
            """, db)
        let r = p.finish(timeout: 60)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(out.contains("failed 0"), "the app's commits: \(out)")
        #expect(log.contains("less than ENTRYPOINT_BACKUP_RESERVE_MB"), "\(log)")
        #expect(log.contains("the backup gave way"), "\(log)")
        #expect(r.status == 74 && log.contains("backup skipped"), "\(log)")
        #expect(w.fake.requests("files/upload_session/finish").isEmpty)
        #expect(DB.integrity(db) == "ok")
    }
}
