// The streamed backup of a WAL database attacked from outside, as a user would meet it: each test
// here showed a defect (its commit says which) and keeps it fixed.
import Foundation
import TestSupport
import Testing

@Suite struct StreamedBackupAttackTests {
    /// The largest RssAnon (kB) of `pid`, sampled every 2 ms until it exits (as the benchmark does).
    func peakAnonymousMemory(_ pid: Int32) -> Int {
        var peak = 0
        while let state = procState(pid)?.state, state != "Z" {
            for line in fileText("/proc/\(pid)/status").split(separator: "\n") where line.hasPrefix("RssAnon:") {
                peak = max(peak, Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0)
            }
            usleep(2_000)
        }
        return peak
    }

    /// Issue 21: peak anonymous memory <= 16 MiB in every scenario. A WAL backup holds block 0 of the
    /// content hash (4 MiB) in pass 1 and one 8 MiB chunk in pass 2; nothing else may be large: not
    /// copies of block 0 when pass 1 ends, not a destination page cache of 64 pages of 64 KiB.
    @Test(arguments: [4096, 65536]) func aWALBackupStaysWithin16MiBOfAnonymousMemory(pageSize: Int) throws {
        let w = try World()
        try FileManager.default.createDirectory(atPath: w.volume.path + "/database", withIntermediateDirectories: true)
        try DB.sql(
            w.db,
            """
            PRAGMA page_size=\(pageSize); CREATE TABLE items(name TEXT); CREATE TABLE pad(b BLOB); INSERT INTO items VALUES ('base');
            INSERT INTO pad SELECT randomblob(4000) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 12000) SELECT i FROM c);
            PRAGMA journal_mode=WAL;
            """)
        let p = try Spawned(Paths.binary, ["--backup"], env: w.env())
        let peak = peakAnonymousMemory(p.pid)
        let r = p.finish(timeout: 120)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(r.status == 0, "\(log)")
        #expect(log.contains("no copy on the volume"), "\(log)")
        #expect(peak > 0 && peak <= 16 * 1024, "peak RssAnon \(peak) kB with \(pageSize)-byte pages")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base"])
    }

    /// Dropbox's file restored, then the app writes in WAL mode: `--backup` has a record to guard with.
    func restoredWALWorld() throws -> World {
        let w = try World()
        try w.publish(["base"], padding: 12_000_000)
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        try DB.sql(w.db, "PRAGMA journal_mode=WAL; INSERT INTO items VALUES ('ours');")
        return w
    }

    /// Someone uploads while the stream is half sent: the rev-guarded finish gets a conflict.
    /// `--backup`: 76, Dropbox's file is theirs. `--backup --auto`: theirs stays, and this volume's
    /// data goes beside it, streamed again from the volume (the merge of a table without a primary
    /// key is refused).
    @Test(arguments: [false, true]) func aConflictOnTheFinishNeverReplacesTheirUpload(automatic: Bool) throws {
        let w = try restoredWALWorld()
        let args = automatic ? ["--backup", "--auto"] : ["--backup"]
        let p = try Spawned(Paths.binary, args, env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4", "ENTRYPOINT_TEST_STOP_AT": "stream-sent"]))
        #expect(eventually(30) { procState(p.pid)?.state == "T" }, "the backup stopped with its first chunk sent")
        let theirs = try w.publish(["base", "theirs"])
        // Every stream of this run stops after its first chunk: go on each time.
        while let state = procState(p.pid)?.state, state != "Z" {
            if state == "T" { kill(p.pid, SIGCONT) }
            usleep(20_000)
        }
        let r = p.finish(timeout: 60)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(w.fake.uploaded("/database.db").isEmpty, "Dropbox's file is still theirs: \(theirs)")
        #expect(w.fake.requests("files/upload_session/finish").contains { $0["status"] as? Int == 409 })
        if automatic {
            #expect(r.status == 0, "\(log)")
            let side = try #require(lines(log, containing: "uploaded this database beside it as ").first, "\(log)")
            let path = try #require(side.split(separator: " ").first { $0.contains(".failback-") }.map(String.init))
            let copy = try #require(w.fake.uploaded(path).last, "\(path)")
            #expect(try DB.items(copy) == ["base", "ours"])
            #expect(DB.integrity(copy) == "ok")
        } else {
            #expect(r.status == 76, "\(log)")
            #expect(log.contains("nothing was overwritten"), "\(log)")
        }
    }

    /// SIGTERM while a chunk is on its way: 128+15, no finish, nothing in Dropbox, the volume as it was.
    @Test func aStopSignalMidUploadCommitsNothing() throws {
        let w = try restoredWALWorld()
        let p = try Spawned(Paths.binary, ["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4", "ENTRYPOINT_TEST_STOP_AT": "stream-sent"]))
        #expect(eventually(30) { procState(p.pid)?.state == "T" }, "the backup stopped with its first chunk sent")
        kill(p.pid, SIGTERM)
        kill(p.pid, SIGCONT)
        let r = p.finish(timeout: 30)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(r.status == 128 + SIGTERM, "\(log)")
        #expect(w.fake.requests("files/upload_session/finish").isEmpty)
        #expect(w.fake.uploaded("/database.db").isEmpty)
        #expect(w.leftovers().filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }.isEmpty, "\(w.leftovers())")
        #expect(try DB.items(w.db) == ["base", "ours"])
    }

    /// Issue 21: a backup's extra space on the volume is bounded by a small constant (at most the
    /// upload chunk is the aim). Streamed, the backup writes nothing, but while its read transaction
    /// is held the app's checkpoints cannot reuse the WAL past it: the WAL grows by every page the
    /// app writes during the upload, and SQLite does not shrink the file afterwards (it is reused
    /// from its start; only journal_size_limit or a TRUNCATE checkpoint of the app's truncates it).
    /// Measured: an app inserting 30 MiB grows its WAL to 3.9 MiB without a backup, to 94 MiB while
    /// a backup is held mid-upload, and 94 MiB it stays after the backup. Known, not fixed here:
    /// this test records it.
    @Test func theWALGrowthWhileTheUploadHoldsItsReadTransactionStaysOnTheVolume() throws {
        let w = try World()
        try w.localDatabase(["base"])
        try DB.sql(
            w.db,
            "INSERT INTO pad SELECT randomblob(4000) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 3000) SELECT i FROM c); PRAGMA journal_mode=WAL;"
        )
        let p = try Spawned(Paths.binary, ["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4", "ENTRYPOINT_TEST_STOP_AT": "stream-sent"]))
        #expect(eventually(30) { procState(p.pid)?.state == "T" }, "the backup stopped with its first chunk sent")
        // The app writes about 30 MiB with SQLite's default automatic checkpoints while the upload
        // goes on, then 5 MiB more once the backup is over; its WAL is measured while it is connected.
        let write = """
            import sqlite3, sys, os
            db, mib = sys.argv[1], int(sys.argv[2])
            c = sqlite3.connect(db, isolation_level=None, timeout=10)
            for i in range(mib * 256):
                c.execute('INSERT INTO pad VALUES (randomblob(4000))')
            print(os.path.getsize(db + '-wal'), flush=True)
            os._exit(0)  # still connected: the last connection's close would checkpoint and delete the WAL
            """
        func appWrites(_ mib: Int) throws -> Int {
            let r = try Spawned("/usr/bin/env", ["python3", "-c", write, w.db, String(mib)], env: ProcessInfo.processInfo.environment).finish(timeout: 120)
            return Int(String(decoding: r.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
        }
        // The app's long-lived connection (its server process): it stays open throughout.
        let holder = try Spawned(
            "/usr/bin/env",
            [
                "python3", "-c",
                "import sqlite3, sys, time\nc = sqlite3.connect(sys.argv[1])\nc.execute('SELECT count(*) FROM items').fetchall()\nopen(sys.argv[1] + '.connected', 'w').close()\ntime.sleep(600)",
                w.db,
            ], env: ProcessInfo.processInfo.environment)
        defer {
            kill(holder.pid, SIGKILL)
            _ = holder.finish(timeout: 10)
        }
        #expect(eventually(30) { FileManager.default.fileExists(atPath: w.db + ".connected") })
        let during = try appWrites(30)
        kill(p.pid, SIGCONT)
        let r = p.finish(timeout: 60)
        #expect(r.status == 0, "\(String(decoding: r.stderr, as: UTF8.self))")
        #expect(try DB.items(try #require(w.fake.uploaded("/database.db").last)) == ["base"])
        let after = try appWrites(5)
        #expect(during > 0 && after > 0, "WAL sizes \(during), \(after)")
        withKnownIssue("the WAL grows by the app's writes during the upload and keeps that size") {
            #expect(during <= 16 << 20, "the WAL while the upload held its read transaction: \(during) bytes")
            #expect(after <= 16 << 20, "the WAL after the backup: \(after) bytes")
        }
    }

    /// A damaged WAL database: the check before the upload fails (74, nothing uploaded) with one
    /// line, as every failure. SQLite 3.40's quick_check answers one row holding every problem on a
    /// line of its own (here about 100): each became a line of the log (a Railway log entry each).
    @Test func aDamagedDatabaseFailsItsCheckInOneLine() throws {
        let w = try World()
        try w.localDatabase(["base"])
        try DB.sql(
            w.db,
            "INSERT INTO pad SELECT randomblob(4000) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 2500) SELECT i FROM c); PRAGMA journal_mode=WAL;"
        )
        // Damage the header of the pad table's root page (an interior page: its cells point nowhere).
        let root = try #require(Int(try DB.sql(w.db, "SELECT rootpage FROM sqlite_schema WHERE name = 'pad'").first ?? ""))
        let handle = try #require(FileHandle(forUpdatingAtPath: w.db))
        try handle.seek(toOffset: UInt64((root - 1) * 4096 + 8))
        handle.write(Data(repeating: 0xFF, count: 64))
        try handle.close()
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 74, "\(r.output)")
        let error = lines(r.stderr, containing: "error: ")
        #expect(error.count == 1 && error[0].contains("failed PRAGMA quick_check: ") && error[0].hasSuffix("nothing was uploaded"), "\(r.stderr)")
        let stray = r.stderr.split(separator: "\n").filter { !$0.hasPrefix("entrypoint: ") }
        #expect(stray.isEmpty, "\(stray.count) lines without the program's prefix: \(stray.prefix(3))")
        #expect(w.fake.requests().filter { ($0["route"] as? String ?? "").hasPrefix("files/upload") }.isEmpty)
    }

    /// A full volume, the app not running (no -shm): opening the WAL database needs a new -shm,
    /// which cannot be sized. The backup cannot run (74), and its line must say why: the volume is
    /// full, not a bare "disk I/O error" (the copied snapshot's free-space check said so before).
    @Test(.enabled(if: Mount.canMountTmpfs, "skipped: needs root with mount rights for a small tmpfs"))
    func aFullVolumeIsNamedWhenTheSnapshotCannotOpenTheDatabase() throws {
        let volume = try Mount("tmpfs", megabytes: 12)
        let w = try World()
        let db = volume.path + "/database/production.db"
        try FileManager.default.createDirectory(atPath: volume.path + "/database", withIntermediateDirectories: true)
        try DB.make(db, rows: ["base"], padding: 6_000_000)
        try DB.sql(db, "PRAGMA journal_mode=WAL")
        #expect(!FileManager.default.fileExists(atPath: db + "-shm"))
        #expect(try shell("dd if=/dev/zero of='\(volume.path)/filler' bs=64k 2>/dev/null; true") == 0)
        let r = try run(["--backup"], env: w.env(["RAILWAY_DB_PATH": db]))
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("(the volume is full)"), "\(r.stderr)")
        #expect(w.fake.requests().filter { ($0["route"] as? String ?? "").hasPrefix("files/upload") }.isEmpty)
    }
}
