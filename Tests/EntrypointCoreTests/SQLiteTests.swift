// The SQLite layer: verify accepts a good database and refuses others, normalize checkpoints a WAL
// and leaves a non-database alone, and a file: URI never names a host.
import CSQLite
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct SQLiteTests {
    @Test func verifyAcceptsAGoodDatabase() throws {
        let dir = TempDir()
        let db = dir.file("good.db")
        try DB.sql(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2);")
        try SQLite.verify(db, what: "good")
        #expect(SQLite.sidecars(db).isEmpty, "a read-only immutable open creates no sidecars")
    }

    @Test func verifyRefusesNonSQLiteAndCorruptFiles() throws {
        let dir = TempDir()
        let html = dir.file("page.db")
        try "<html><body>Error</body></html>".write(toFile: html, atomically: true, encoding: .utf8)
        #expect { try SQLite.verify(html, what: "the download") } throws: {
            let e = $0 as! EntrypointError
            return e.code == .badRemoteData && e.message.contains("not a SQLite database")
        }
        // A valid header and a damaged b-tree page.
        let corrupt = dir.file("corrupt.db")
        try DB.sql(
            corrupt,
            "PRAGMA page_size=1024; CREATE TABLE t(x); INSERT INTO t SELECT randomblob(500) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i<200) SELECT i FROM c);"
        )
        var data = try Data(contentsOf: URL(fileURLWithPath: corrupt))
        for i in 2048..<2048 + 64 { data[i] = 0xFF }
        try data.write(to: URL(fileURLWithPath: corrupt))
        #expect { try SQLite.verify(corrupt, what: "the download") } throws: {
            let e = $0 as! EntrypointError
            return e.code == .badRemoteData && e.message.contains("quick_check")
        }
    }

    @Test func normalizeCheckpointsAWALWithUncommittedFrames() throws {
        let dir = TempDir()
        let db = dir.file("wal.db")
        try DB.sql(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x);")
        // Keep a connection open while a second one writes, then "crash": copy the files as they are.
        try DB.sql(db, "PRAGMA wal_autocheckpoint=0; INSERT INTO t VALUES ('committed-in-wal');") { _ in
            let fm = FileManager.default
            try? fm.copyItem(atPath: db, toPath: dir.file("crashed.db"))
            try? fm.copyItem(atPath: db + "-wal", toPath: dir.file("crashed.db-wal"))
        }
        let crashed = dir.file("crashed.db")
        #expect(FileManager.default.fileExists(atPath: crashed + "-wal"))
        let log = Logger(level: .debug, fd: -1)
        #expect(try SQLite.normalize(crashed, log: log) == .complete)
        #expect(SQLite.sidecars(crashed).isEmpty)
        // The main file alone now holds the committed row.
        let copy = dir.file("alone.db")
        try FileManager.default.copyItem(atPath: crashed, toPath: copy)
        #expect(try DB.sql(copy, "SELECT x FROM t") == ["committed-in-wal"])
    }

    // A RAILWAY_DB_PATH starting with // gave `file://host/...`, which SQLite refuses.
    @Test func fileURIsNeverStartWithAnAuthority() throws {
        #expect(SQLite.fileURI("/data/x.db") == "file:///data/x.db")
        #expect(SQLite.fileURI("//data/x.db") == "file:///data/x.db")
        #expect(SQLite.fileURI("///data//a b.db") == "file:///data//a%20b.db")
        #expect(SQLite.fileURI("data/x.db") == "file:data/x.db")
        #expect(SQLite.fileURI("/data/?#%.db") == "file:///data/%3F%23%25.db")
        let dir = TempDir()
        let db = dir.file("good.db")
        try DB.sql(db, "CREATE TABLE t(x); INSERT INTO t VALUES (1);")
        #expect(dir.path.hasPrefix("/"))
        try SQLite.verify("/" + db, what: "good")
        try SQLite.verify("//" + db, what: "good")
    }

    @Test func normalizeLeavesNonDatabasesAlone() throws {
        let dir = TempDir()
        let path = dir.file("junk.db")
        try "junk".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try SQLite.normalize(path, log: Logger(fd: -1)) != .complete)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "junk")
    }
}
