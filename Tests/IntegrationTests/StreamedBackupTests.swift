// A WAL database's backup streams its snapshot into the upload: nothing is written to the volume,
// the session's chunks come from memory, and only a stream whose checks passed is committed. A kill
// at any step, a database that changes mid-stream, a file that changes under SQLite after the
// appends began and a lost answer on an append each leave Dropbox's file and the volume as they were
// (or hold exactly the read transaction's state).
import Foundation
import TestSupport
import Testing

@Suite struct StreamedBackupTests {
    /// Dropbox's file and the volume share the state with `padding` bytes; then the database is in
    /// WAL mode with one new row, checkpointed: every page is in the database file.
    func walWorld(padding: Int = 20_000_000) throws -> World {
        let w = try World()
        try w.publish(["base"], padding: padding)
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        try DB.sql(w.db, "PRAGMA journal_mode=WAL; INSERT INTO items VALUES ('streamed'); PRAGMA wal_checkpoint(TRUNCATE);")
        return w
    }

    /// Starts `--backup` stopped at `point` (ENTRYPOINT_TEST_STOP_AT), returning once it is stopped.
    func backupStopped(at point: String, _ w: World, _ extra: [String: String] = [:]) throws -> Spawned {
        let p = try Spawned(Paths.binary, ["--backup"], env: w.env(extra.merging(["ENTRYPOINT_TEST_STOP_AT": point]) { _, new in new }))
        #expect(eventually(30) { procState(p.pid)?.state == "T" }, "the backup stopped at \(point)")
        return p
    }

    func sessionRequests(_ w: World) -> [[String: Any]] {
        w.fake.requests().filter { ($0["route"] as? String ?? "").hasPrefix("files/upload_session") }
    }

    @Test func aWALBackupWritesNothingToTheVolumeAndSendsChunksFromMemory() throws {
        let w = try walWorld()
        // Stopped after the first chunk went: the volume holds the database and its own files only.
        let p = try backupStopped(at: "stream-sent", w)
        let names = (try FileManager.default.contentsOfDirectory(atPath: w.volume.path + "/database")).sorted()
        #expect(
            names == ["production.db", "production.db-shm", "production.db-wal", "production.db.entrypoint.json", "production.db.entrypoint.lock"],
            "\(names)")
        kill(p.pid, SIGCONT)
        let r = p.finish(timeout: 60)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(r.status == 0, "\(log)")
        #expect(log.contains("no copy on the volume"), "\(log)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "streamed"])
        #expect(DB.integrity(uploaded) == "ok")
        // The default chunk (148 MiB) is held in memory as 8 MiB at most; every request has its hash.
        let session = sessionRequests(w)
        #expect(session.count >= 3, "start, appends, finish: \(session.count)")
        for req in session {
            let received = req["bytes_received"] as? Int ?? 0
            #expect(received <= 8 << 20 && received > 0, "\(req["route"] ?? "?"): \(received) bytes")
            #expect(((req["arg"] as? [String: Any])?["content_hash"] as? String)?.count == 64)
        }
        #expect(w.leftovers().filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }.isEmpty, "\(w.leftovers())")
        // The record names the upload: the next backup finds nothing to do.
        let again = try run(["--backup"], env: w.env())
        #expect(again.status == 0 && again.stderr.contains("nothing uploaded"), "\(again.output)")
    }

    /// A kill at each step of the streamed backup: Dropbox's file is untouched (no finish), the
    /// volume holds no temporary, and the next backup uploads.
    @Test(arguments: ["stream-hashed", "stream-sent", "stream-checked"]) func aKillAtEachStepChangesNothing(point: String) throws {
        let w = try walWorld()
        let killed = try run(["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4", "ENTRYPOINT_TEST_CRASH_AT": point]))
        #expect(killed.status == 128 + SIGKILL, "\(killed.output)")
        #expect(w.fake.requests("files/upload_session/finish").isEmpty)
        #expect(w.fake.uploaded("/database.db").isEmpty)
        #expect(w.leftovers().filter { !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") }.isEmpty, "\(w.leftovers())")
        #expect(DB.integrity(w.db) == "ok")
        let again = try run(["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(again.status == 0, "\(again.output)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "streamed"])
    }

    /// The app commits and checkpoints while the stream is half sent: the upload is the read
    /// transaction's state (the hash of the snapshot line), sound; the next backup takes the rest.
    @Test func aDatabaseChangingMidStreamUploadsTheStateTheStreamBegan() throws {
        let w = try walWorld()
        let p = try backupStopped(at: "stream-sent", w, ["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"])
        try DB.sql(w.db, "INSERT INTO items VALUES ('meanwhile'); INSERT INTO pad SELECT randomblob(4000) FROM pad LIMIT 500; PRAGMA wal_checkpoint(PASSIVE);")
        kill(p.pid, SIGCONT)
        let r = p.finish(timeout: 60)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(r.status == 0, "\(log)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "streamed"])
        #expect(DB.integrity(uploaded) == "ok")
        let hash = try #require(log.split(separator: "\n").first { $0.contains("snapshot: ") && $0.contains("content hash") })
        let meta = try #require(w.fake.requests("files/upload_session/finish").last?["status"] as? Int)
        #expect(meta == 200)
        let stored = try contentHash(of: uploaded)
        #expect(hash.contains(stored), "\(hash) names \(stored)")
        let again = try run(["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(again.status == 0, "\(again.output)")
        #expect(try DB.items(try #require(w.fake.uploaded("/database.db").last)) == ["base", "streamed", "meanwhile"])
    }

    /// The database file changes under SQLite after the first chunk went (a damaged disk, a process
    /// writing it without SQLite): the second pass reads other bytes than the first, the chunk's
    /// hash no longer matches, the session is abandoned: no commit, Dropbox's file untouched, 74.
    @Test func aCheckThatFailsAfterTheAppendsBeganCommitsNothing() throws {
        let w = try walWorld()
        let p = try backupStopped(at: "stream-sent", w, ["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"])
        // Overwrite part of a page at 10 MiB (the third chunk, long out of SQLite's page cache).
        let handle = try #require(FileHandle(forUpdatingAtPath: w.db))
        try handle.seek(toOffset: 10 << 20 + 512)
        handle.write(Data(repeating: 0xA5, count: 256))
        try handle.close()
        kill(p.pid, SIGCONT)
        let r = p.finish(timeout: 60)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(r.status == 74, "\(log)")
        #expect(log.contains("differ from what its first pass read"), "\(log)")
        #expect(log.contains("nothing was committed"), "\(log)")
        #expect(w.fake.requests("files/upload_session/finish").isEmpty)
        #expect(w.fake.uploaded("/database.db").isEmpty)
        #expect(w.fake.requests("files/upload_session/append_v2").count >= 1, "the appends had begun")
    }

    /// The answer to an append is lost after Dropbox stored it: the retry learns the session's
    /// offset (incorrect_offset) and goes on from memory; another append whose connection dies
    /// mid-body is resent from memory. One sound upload, no byte twice.
    @Test func aLostAnswerOnAnAppendIsRecognisedAndAResetIsResentFromMemory() throws {
        let w = try walWorld()
        try w.fake.fault(["route": "files/upload_session/append_v2", "kind": "reset_after_store"])
        try w.fake.fault(["route": "files/upload_session/append_v2", "kind": "reset_during_body", "bytes": 100_000, "skip": 2])
        let r = try run(["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("already has the bytes up to"), "\(r.output)")
        let appends = w.fake.requests("files/upload_session/append_v2")
        #expect(appends.contains { $0["status"] is NSNull || $0["status"] == nil })
        #expect(appends.contains { $0["status"] as? Int == 409 })
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "streamed"])
        #expect(DB.integrity(uploaded) == "ok")
    }

    /// The finish's answer is lost after Dropbox committed: the resend finds the session gone,
    /// Dropbox's metadata holds this snapshot: a success, recorded; the next backup uploads nothing.
    @Test func aLostAnswerOnTheFinishIsRecognisedAsOurOwnCommit() throws {
        let w = try walWorld()
        try w.fake.fault(["route": "files/upload_session/finish", "kind": "reset_after_store"])
        let r = try run(["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("the first finish had already stored it"), "\(r.output)")
        #expect(w.fake.uploaded("/database.db").count == 1)
        let again = try run(["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(again.status == 0 && again.stderr.contains("nothing uploaded"), "\(again.output)")
    }

    /// Someone else's upload lands while the stream is half sent: the rev-guarded finish is
    /// refused, Dropbox keeps their file (76, nothing overwritten), this volume's data stays local.
    @Test func aConflictOnTheFinishOverwritesNothing() throws {
        let w = try walWorld()
        let p = try backupStopped(at: "stream-sent", w, ["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"])
        let theirs = try w.publish(["main-server"])
        kill(p.pid, SIGCONT)
        let r = p.finish(timeout: 60)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(r.status == 76, "\(log)")
        #expect(w.fake.uploaded("/database.db").isEmpty)
        _ = theirs
        #expect(try DB.items(w.db) == ["base", "streamed"])
    }

    /// An app that checkpoints with TRUNCATE while the upload is slow: the checkpoint waits for the
    /// backup's reader and holds the app's commits behind it, so the backup gives way (ends its read
    /// transaction, one line) and copies the database instead. The app's write goes through within
    /// its own busy timeout (it failed with "database is locked" when the backup held on).
    @Test func aBlockingCheckpointOfTheAppMakesTheBackupGiveWay() throws {
        let w = try walWorld()
        // The first append waits 12 s in Dropbox: the backup holds its read transaction meanwhile.
        try w.fake.fault(["route": "files/upload_session/append_v2", "kind": "delay", "seconds": 12])
        let p = try Spawned(Paths.binary, ["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(eventually(30) { w.fake.requests("files/upload_session/start").count == 1 }, "the upload began")
        let out = try python(
            """
            import sqlite3, sys, threading, time
            db = sys.argv[1]
            w = sqlite3.connect(db, isolation_level=None, timeout=5)  # Python's default
            w.execute("INSERT INTO items VALUES ('before')")  # the backup's reader is now on an older state
            def checkpoint():
                c = sqlite3.connect(db, isolation_level=None, timeout=20)
                print('checkpoint', c.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchone(), flush=True)
            t = threading.Thread(target=checkpoint)
            t.start()
            time.sleep(0.5)
            try:
                w.execute("INSERT INTO items VALUES ('during')")
                print('write ok', flush=True)
            except sqlite3.OperationalError as e:
                print('write failed:', e, flush=True)
            t.join()
            """, w.db)
        let r = p.finish(timeout: 60)
        let log = String(decoding: r.stderr, as: UTF8.self)
        #expect(out.contains("write ok"), "\(out)\n\(log)")
        #expect(out.contains("checkpoint (0,"), "the checkpoint completed: \(out)")
        #expect(r.status == 0, "\(log)")
        #expect(log.contains("the backup gave way"), "\(log)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(DB.integrity(uploaded) == "ok")
        #expect(try DB.items(uploaded).starts(with: ["base", "streamed", "before"]))
    }

    /// A rollback-journal database keeps its temporary copy (a read lock across the upload would
    /// hold the app's commits): its snapshot line does not claim a stream.
    @Test func aRollbackJournalDatabaseIsCopiedFirst() throws {
        let w = try World()
        try w.restoredThenWritten("railway", padding: 2_000_000)
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.stderr.contains("no copy on the volume"), "\(r.output)")
        #expect(r.stderr.contains("snapshot: "), "\(r.output)")
    }
}

/// Dropbox's content hash of a file (hex), computed by Python's hashlib (not by the code under test).
func contentHash(of path: String) throws -> String {
    try python(
        """
        import hashlib, sys
        blocks = b""
        with open(sys.argv[1], "rb") as f:
            while chunk := f.read(4 << 20):
                blocks += hashlib.sha256(chunk).digest()
        print(hashlib.sha256(blocks).hexdigest())
        """, path
    ).trimmingCharacters(in: .whitespacesAndNewlines)
}
