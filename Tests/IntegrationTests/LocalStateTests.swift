// SQLite-aware local state, local writes kept.
import Foundation
import TestSupport
import Testing

@Suite struct LocalStateTests {
    @Test func walModeLocalDatabaseWithUncheckpointedWritesIsKept() throws {
        let w = try World()
        try w.publish(["remote"])
        #expect(try run([], env: w.env()).status == 0)
        // The app writes in WAL mode, and the WAL is never checkpointed (a crash).
        try DB.sql(w.db, "PRAGMA journal_mode=WAL;")
        let writer = try Spawned(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import sqlite3, os, sys
                c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0')
                c.execute("INSERT INTO items VALUES ('written-in-emergency')"); c.commit()
                os._exit(0)
                """, w.db,
            ], env: ProcessInfo.processInfo.environment)
        #expect(writer.finish(timeout: 30).status == 0)
        #expect(FileManager.default.fileExists(atPath: w.db + "-wal"))
        try w.publish(["remote", "newer"])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("KEPT A COPY"))
        #expect(try DB.items(w.db) == ["remote", "newer"])
        // No sidecar of the old database beside the new one.
        #expect(!FileManager.default.fileExists(atPath: w.db + "-wal"))
        #expect(!FileManager.default.fileExists(atPath: w.db + "-shm"))
        let copies = w.leftovers().filter { $0.hasPrefix("production.db.local-") }
        #expect(copies.count == 1, "\(w.leftovers())")
        let copy = w.volume.path + "/database/" + copies[0]
        #expect(try DB.items(copy) == ["remote", "written-in-emergency"])
        #expect(DB.integrity(copy) == "ok")
    }

    @Test func localDatabaseWithoutRecordIsKeptBeforeReplacing() throws {
        let w = try World()
        try w.localDatabase(["unknown-origin"])
        try w.publish(["remote"])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let copies = w.leftovers().filter { $0.hasPrefix("production.db.local-") }
        #expect(copies.count == 1)
        #expect(r.stderr.contains(copies.first ?? "?"))
    }

    @Test func onlyTheNewestCopiesAreKept() throws {
        let w = try World()
        try w.publish(["r0"])
        #expect(try run([], env: w.env()).status == 0)
        for i in 1...3 {
            try DB.sql(w.db, "INSERT INTO items VALUES ('local-\(i)')")
            try w.publish(["r\(i)"])
            let r = try run([], env: w.env(["ENTRYPOINT_KEEP_COPIES": "2"]))
            #expect(r.status == 0, "\(r.output)")
            sleep(1)  // copies are named by the second
        }
        let copies = w.leftovers().filter { $0.hasPrefix("production.db.local-") }.sorted()
        #expect(copies.count == 2, "\(copies)")
        #expect(try DB.items(w.volume.path + "/database/" + copies.last!) == ["r2", "local-3"])
    }

    @Test func ifMissingNeverReplaces() throws {
        let w = try World()
        try w.localDatabase(["mine"])
        try w.publish(["remote"])
        var r = try run([], env: w.env(["ENTRYPOINT_RESTORE_MODE": "if-missing"]))
        #expect(r.status == 0)
        #expect(try DB.items(w.db) == ["mine"])
        #expect(w.fake.requests().isEmpty)
        // An empty file counts as missing.
        try Data().write(to: URL(fileURLWithPath: w.db))
        r = try run([], env: w.env(["ENTRYPOINT_RESTORE_MODE": "if-missing"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["remote"])
    }

    @Test func modeOffNeverCallsDropbox() throws {
        let w = try World()
        try w.publish(["remote"])
        let r = try run(["sh", "-c", "echo started"], env: w.env(["ENTRYPOINT_RESTORE_MODE": "off"]))
        #expect(r.status == 0 && r.stdout.contains("started"))
        #expect(w.fake.requests().isEmpty)
    }

    @Test func missingDirectoryIsCreated() throws {
        let w = try World()
        try w.publish(["x"])
        let r = try run([], env: w.env(["RAILWAY_DB_PATH": w.volume.path + "/a/b/c/db.sqlite"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(FileManager.default.fileExists(atPath: w.volume.path + "/a/b/c/db.sqlite"))
    }

    @Test func directoryThatCannotBeCreatedIsOneLine() throws {
        let w = try World()
        try w.publish(["x"])
        try Data("file".utf8).write(to: URL(fileURLWithPath: w.volume.path + "/blocker"))
        let r = try run([], env: w.env(["RAILWAY_DB_PATH": w.volume.path + "/blocker/db.sqlite"]))
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("cannot create the directory \(w.volume.path)/blocker"))
    }
}
