// The restore decision against the fake Dropbox when the
// volume holds local changes. The app's writes are made by Python's sqlite3 (the seed's stack).
import Foundation
import TestSupport
import Testing

@Suite struct LocalChangesTests {
    /// Restore, the app commits, the container restarts while Dropbox still has the same
    /// rev: nothing is downloaded, the app's rows are still there, one line says so, --check agrees.
    @Test(arguments: ["WAL", "DELETE", "PERSIST", "TRUNCATE"])
    func localChangesAreKeptWhileDropboxIsUnchanged(journalMode: String) throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        let rev = try #require(record(w)["rev"] as? String)
        try appCommits(["booking-1", "booking-2"], to: w.db, journalMode: journalMode)
        if journalMode == "WAL" { #expect(FileManager.default.fileExists(atPath: w.db + "-wal")) }
        if journalMode == "PERSIST" || journalMode == "TRUNCATE" { #expect(FileManager.default.fileExists(atPath: w.db + "-journal")) }
        let recordBefore = bytes(w.db + ".entrypoint.json")

        let filesBefore = w.leftovers()
        let dbBefore = bytes(w.db)
        let check = try run(["--check"], env: w.env())
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("result: would keep the local database: it has changes not yet in Dropbox (rev \(rev) unchanged)"), "\(check.stdout)")
        #expect(w.leftovers() == filesBefore && bytes(w.db) == dbBefore, "--check changes nothing")

        let r = try run(["sh", "-c", "echo app-started"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("app-started"))
        let line = "Local database has changes not yet in Dropbox (rev \(rev) unchanged); keeping it"
        #expect(lines(r.stderr, containing: line).count == 1, "\(r.stderr)")
        #expect(!r.stderr.contains("Hash mismatch") && !r.stderr.contains("KEPT A COPY") && !r.stderr.contains("different version"), "\(r.stderr)")
        #expect(w.fake.requests("files/download").count == 1, "only the first restore downloaded")
        #expect(try DB.items(w.db) == ["base", "booking-1", "booking-2"])
        #expect(DB.integrity(w.db) == "ok")
        #expect(!w.leftovers().contains { $0.contains(".local-") }, "no copy: nothing was replaced: \(w.leftovers())")
        #expect(bytes(w.db + ".entrypoint.json") == recordBefore, "the record keeps saying what Dropbox has")

        // Another restart: the same decision, still nothing downloaded.
        let again = try run([], env: w.env())
        #expect(lines(again.stderr, containing: line).count == 1, "\(again.stderr)")
        #expect(w.fake.requests("files/download").count == 1)
    }

    /// Divergence: both sides changed. Remote wins, the local database is kept as a copy,
    /// one loud line says both changed and names the copy and the rev; --check says the same.
    @Test(arguments: ["WAL", "DELETE"])
    func divergenceDownloadsAndKeepsTheLocalDatabase(journalMode: String) throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        let baseRev = try #require(record(w)["rev"] as? String)
        try appCommits(["booking-1"], to: w.db, journalMode: journalMode)
        try w.publish(["base", "main-server"])  // the main server uploaded meanwhile: a new rev

        let check = try run(["--check"], env: w.env())
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("keeping the local database as a copy first: both changed"), "\(check.stdout)")
        // --check previews the merge (its downloads); the start then downloads Dropbox's new rev and
        // the base (the rev the cold start restored, issue 21: a restore keeps no copy of it), and
        // the merge is refused (items has no primary key).
        let downloadsBefore = w.fake.requests("files/download").count

        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let newRev = try #require(record(w)["rev"] as? String)
        let loud = lines(r.stderr, containing: "KEPT A COPY")
        #expect(loud.count == 1, "\(r.stderr)")
        let copies = w.leftovers().filter { $0.hasPrefix("production.db.local-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }
        #expect(copies.count == 1, "\(w.leftovers())")
        if let l = loud.first, let copy = copies.first {
            #expect(l.contains("warning:") && l.contains("both changed") && l.contains("rev \(newRev)") && l.contains(copy), "\(l)")
        }
        #expect(!r.stderr.contains("different version"))
        let downloaded = w.fake.requests("files/download").dropFirst(downloadsBefore).map { ($0["arg"] as? [String: Any])?["path"] as? String ?? "?" }
        #expect(downloaded == ["rev:" + newRev, "rev:" + baseRev], "\(downloaded)")
        #expect(try DB.items(w.db) == ["base", "main-server"])
        if let copy = copies.first { #expect(try DB.items(w.volume.path + "/database/" + copy) == ["base", "booking-1"]) }
        #expect(!FileManager.default.fileExists(atPath: w.db + "-wal") && !FileManager.default.fileExists(atPath: w.db + "-journal"))
    }

    /// --backup, then a restore with neither side changed: no files/download at all.
    @Test(arguments: ["WAL", "DELETE"])
    func restoreAfterABackupDownloadsNothing(journalMode: String) throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try appCommits(["emergency"], to: w.db, journalMode: journalMode)
        let backup = try run(["--backup"], env: w.env())
        #expect(backup.status == 0, "\(backup.output)")
        let rev = try #require(record(w)["rev"] as? String)
        let downloads = w.fake.requests("files/download").count

        // A rollback-journal database is snapshotted byte for byte (the upload is the live file: a
        // hash match); a WAL one through SQLite's backup API, which rewrites header fields (the same
        // data, another content hash).
        let check = try run(["--check"], env: w.env())
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        if journalMode == "WAL" {
            #expect(
                check.stdout.contains("result: no download needed: the local database holds the same data as Dropbox's rev \(rev) (uploaded from this volume)"),
                "\(check.stdout)")
            #expect(
                r.stderr.contains("No download needed: the local database holds the same data as Dropbox's rev \(rev) (uploaded from this volume)"),
                "\(r.stderr)")
        } else {
            #expect(check.stdout.contains("result: no download needed (hash match)"), "\(check.stdout)")
            #expect(r.stderr.contains("No download needed (hash match)"), "\(r.stderr)")
        }
        #expect(w.fake.requests("files/download").count == downloads, "no files/download after the backup")
        #expect(try DB.items(w.db) == ["base", "emergency"])
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }

    /// A commit made while --backup runs (after its snapshot) is never counted as backed up:
    /// the next restore with Dropbox unchanged keeps every committed row. The writer, in the default
    /// rollback-journal mode, commits in a loop until the backup's snapshot file appears, then holds
    /// one more transaction open across the snapshot and commits it as soon as the snapshot's read
    /// lock is gone: in the window between the snapshot and the end of the backup.
    /// In WAL mode the last commit does not wait for the snapshot; it lands during or after it.
    @Test(arguments: ["DELETE", "WAL"])
    func aCommitDuringABackupIsNeverLost(journalMode: String) throws {
        let w = try World()
        try w.publish(["base"], padding: 24_000_000)
        #expect(try run([], env: w.env()).status == 0)
        if journalMode == "WAL" { try DB.sql(w.db, "PRAGMA journal_mode=WAL;") }
        let writer = try Spawned(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import sqlite3, sys, os, time
                db = sys.argv[1]; d = os.path.dirname(db); base = os.path.basename(db) + '.entrypoint-backup-'
                c = sqlite3.connect(db, timeout=60, isolation_level=None)
                i = 0; end = time.time() + 60
                while not any(n.startswith(base) for n in os.listdir(d)) and time.time() < end:
                    i += 1; c.execute('INSERT INTO items VALUES (?)', (f'row-{i}',)); time.sleep(0.005)
                c.execute('BEGIN IMMEDIATE'); i += 1; c.execute('INSERT INTO items VALUES (?)', (f'row-{i}',))
                time.sleep(0.03)
                c.execute('COMMIT')
                print(i, flush=True)
                """, w.db,
            ], env: ProcessInfo.processInfo.environment)
        // Let the writer commit a few rows before the backup starts.
        for _ in 0..<400 where ((try? DB.sql(w.db, "SELECT count(*) FROM items").first) ?? nil).flatMap({ Int($0) }) ?? 0 < 10 {
            usleep(10_000)
        }
        let backup = try run(["--backup"], env: w.env())
        let written = writer.finish(timeout: 90)
        #expect(backup.status == 0, "\(backup.output)")
        #expect(written.status == 0)
        let n = try #require(Int(String(decoding: written.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
        let expected = ["base"] + (1...n).map { "row-\($0)" }
        #expect(try DB.items(w.db) == expected)

        // Dropbox still has the uploaded rev: the restore must not replace the live database.
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == expected, "every committed row is still there")
        #expect(!r.stderr.contains("Restored to"), "\(r.stderr)")
    }
}
