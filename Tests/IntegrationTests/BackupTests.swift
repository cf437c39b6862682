// --backup against the fake Dropbox.
import Foundation
import TestSupport
import Testing

@Suite struct BackupTests {
    func restored(_ w: World, rows: [String] = ["base"], padding: Int = 0) throws {
        try w.publish(rows, padding: padding)
        #expect(try run([], env: w.env()).status == 0)
    }

    @Test func smallBackupUploadsOneCallWithContentHash() throws {
        let w = try World()
        try restored(w)
        try DB.sql(w.db, "INSERT INTO items VALUES ('written-on-railway')")
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("Backed up \(w.db) to /database.db"))
        let upload = try #require(w.fake.requests("files/upload").last)
        #expect(upload["status"] as? Int == 200)
        let arg = try #require(upload["arg"] as? [String: Any])
        #expect((arg["content_hash"] as? String)?.count == 64)
        #expect((arg["mode"] as? [String: Any])?[".tag"] as? String == "update")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "written-on-railway"])
        #expect(DB.integrity(uploaded) == "ok")
        // The record now names the uploaded revision: a second backup finds nothing to do.
        let again = try run(["--backup"], env: w.env())
        #expect(again.status == 0 && again.stderr.contains("already has this database"), "\(again.output)")
    }

    @Test func largeBackupUsesASessionInFourMiBChunks() throws {
        let w = try World()
        try restored(w, padding: 9_000_000)
        try DB.sql(w.db, "INSERT INTO items VALUES ('session')")
        let r = try run(["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("files/upload_session/start").count == 1)
        #expect(w.fake.requests("files/upload_session/append_v2").count >= 1)
        #expect(w.fake.requests("files/upload_session/finish").count == 1)
        for req in w.fake.requests().filter({ ($0["route"] as? String ?? "").hasPrefix("files/upload_session") }) {
            let received = req["bytes_received"] as? Int ?? 0
            #expect(received % (4 << 20) == 0 || req["route"] as? String == "files/upload_session/finish", "chunks are 4 MiB multiples: \(received)")
            #expect(((req["arg"] as? [String: Any])?["content_hash"] as? String)?.count == 64)
        }
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "session"])
    }

    @Test func sessionResumesAfterIncorrectOffset() throws {
        let w = try World()
        try restored(w, padding: 9_000_000)
        try DB.sql(w.db, "INSERT INTO items VALUES ('resumed')")
        try w.fake.fault(["route": "files/upload_session/append_v2", "kind": "incorrect_offset"])
        let r = try run(["--backup"], env: w.env(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(r.status == 0, "\(r.output)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "resumed"])
        #expect(w.fake.requests("files/upload_session/append_v2").contains { $0["status"] as? Int == 409 })
    }

    @Test func remoteThatMovedOnIsNeverOverwritten() throws {
        let w = try World()
        try restored(w)
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway')")
        // The main server uploads meanwhile.
        let main = try w.publish(["main-server"])
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 76, "\(r.output)")
        #expect(r.stderr.contains("--force"))
        #expect(w.fake.uploaded("/database.db").isEmpty)
        #expect(w.fake.requests("files/upload").isEmpty)
        _ = main
        // --force overwrites.
        let forced = try run(["--backup", "--force"], env: w.env())
        #expect(forced.status == 0, "\(forced.output)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "railway"])
    }

    @Test func conflictDetectedByDropboxItself() throws {
        let w = try World()
        try restored(w)
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway')")
        // The record names a rev Dropbox no longer has as current: update mode must conflict.
        let recordPath = w.db + ".entrypoint.json"
        var record = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: recordPath))) as? [String: Any])
        try w.publish(["moved"])
        let meta = try run(["--check"], env: w.env())
        _ = meta
        record["rev"] = "0123456789abcdef"
        try JSONSerialization.data(withJSONObject: record).write(to: URL(fileURLWithPath: recordPath))
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 76, "\(r.output)")
        #expect(w.fake.uploaded("/database.db").isEmpty)
    }

    @Test func backupWhileAnotherProcessWritesInWALMode() throws {
        let w = try World()
        try restored(w)
        try DB.sql(w.db, "PRAGMA journal_mode=WAL;")
        // A writer commits numbered rows continuously while the backup runs.
        let writer = try Spawned(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import sqlite3, sys, time
                c = sqlite3.connect(sys.argv[1], timeout=5)
                end = time.time() + 4; i = 0
                while time.time() < end:
                    i += 1; c.execute("INSERT INTO items VALUES (?)", (f"row-{i}",)); c.execute("INSERT INTO pad VALUES (randomblob(20000))"); c.commit()
                print(i)
                """, w.db,
            ], env: ProcessInfo.processInfo.environment)
        // Start the backup once the writer is committing.
        for _ in 0..<200 where ((try? DB.sql(w.db, "SELECT count(*) FROM items").first) ?? nil).flatMap({ Int($0) }) ?? 0 < 20 {
            usleep(20_000)
        }
        let r = try run(["--backup"], env: w.env())
        let written = writer.finish(timeout: 30)
        #expect(r.status == 0, "\(r.output)")
        #expect(written.status == 0)
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(DB.integrity(uploaded) == "ok")
        // Every committed row up to the snapshot: a gap-free prefix row-1 ... row-N.
        let rows = try DB.items(uploaded).dropFirst()
        try #require(!rows.isEmpty, "the snapshot holds the writer's committed rows")
        #expect(Array(rows) == (1...rows.count).map { "row-\($0)" })
    }

    @Test func restoreAfterBackupKeepsACopyOnlyIfTheAppWroteSince() throws {
        let w = try World()
        try restored(w)
        try DB.sql(w.db, "INSERT INTO items VALUES ('before-backup')")
        #expect(try run(["--backup"], env: w.env()).status == 0)
        // No write since the backup: the next start may download (the snapshot's bytes differ from
        // the live file's), but it must not claim the app wrote; --check says the same.
        let check = try run(["--check"], env: w.env())
        #expect(check.status == 0, "\(check.output)")
        #expect(!check.stdout.contains("keeping the changed local database"), "\(check.stdout)")
        var r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.stderr.contains("KEPT A COPY"), "\(r.stderr)")
        #expect(try DB.items(w.db) == ["base", "before-backup"])
        // A write after the last backup is kept.
        #expect(try run(["--backup"], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('after-backup')")
        try w.publish(["main-server"])
        r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("KEPT A COPY"))
    }

    @Test func nothingToBackUpIsOneLine() throws {
        let w = try World()
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 78, "\(r.output)")
        #expect(r.stderr.contains("nothing to back up"))
    }
}
