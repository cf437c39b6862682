// A WAL database's snapshot streams without a copy on the volume: pass 1's hashes describe exactly
// the bytes pass 2 streams, page 1 first, while the app commits and checkpoints in between; the
// streamed bytes are a sound database holding the state of the read transaction.
import CSQLite
import Foundation
import Glibc
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct StreamedSnapshotTests {
    /// A WAL database of about `rows` KiB, with an index (pages of several b-trees interleave).
    func walDatabase(_ dir: String, rows: Int) throws -> String {
        let db = dir + "/live.db"
        try DB.sql(
            db,
            """
            PRAGMA journal_mode=WAL;
            CREATE TABLE t(id INTEGER PRIMARY KEY, v BLOB);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < \(rows))
            INSERT INTO t(v) SELECT randomblob(1000) FROM n;
            CREATE INDEX tv ON t(v);
            """)
        return db
    }

    /// Opens `db` and starts a read transaction on it, as the backup does.
    func reader(_ db: String) throws -> SQLite.Connection {
        let c = try SQLite.Connection(db, flags: SQLITE_OPEN_READWRITE)
        _ = try c.query("BEGIN")
        _ = try c.query("SELECT count(*) FROM sqlite_schema")
        return c
    }

    @Test func bothPassesAgreeWhileTheAppCommitsAndTheStreamIsTheReadTransactionsState() throws {
        let temp = TempDir()
        let dir = temp.path
        let db = try walDatabase(dir, rows: 12_000)  // ~24 MiB with the index: 6 content-hash blocks
        let source = try reader(db)
        let first = try SQLite.hashPass(source, pageSize: 4096, stop: { 0 })
        // The app commits and checkpoints between the passes (the checkpoint cannot pass the reader).
        try DB.sql(db, "INSERT INTO t(v) SELECT randomblob(1000) FROM t LIMIT 3000; PRAGMA wal_checkpoint(PASSIVE);")
        var streamed: [UInt8] = []
        try SQLite.streamPass(
            source, first, stop: { 0 },
            sink: { bytes in
                streamed.append(contentsOf: bytes)
                return true
            })
        _ = try source.query("COMMIT")
        #expect(Int64(streamed.count) == first.size)
        #expect(Array(streamed[0..<4096]) == first.pageOne)
        let file = dir + "/streamed.db"
        #expect(FileManager.default.createFile(atPath: file, contents: Data(streamed)))
        let hashes = try DataHash.ofFile(file)
        #expect(hashes.content == first.contentHash)
        #expect(hashes.data == first.dataHash)
        #expect(DB.integrity(file) == "ok")
        #expect(try DB.sql(file, "SELECT count(*) FROM t") == ["12000"])
        #expect(try DB.sql(db, "SELECT count(*) FROM t") == ["15000"])
        // Nothing was written beside the database.
        let names = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
        #expect(names == ["live.db", "live.db-shm", "live.db-wal", "streamed.db"])
    }

    @Test func theStreamHoldsTheSameDataAsTheFileSnapshot() throws {
        let temp = TempDir()
        let dir = temp.path
        let db = try walDatabase(dir, rows: 3000)
        try SQLite.snapshot(db, to: dir + "/copy.db")
        let source = try reader(db)
        let first = try SQLite.hashPass(source, pageSize: 4096, stop: { 0 })
        _ = try source.query("COMMIT")
        #expect(try DataHash.ofFile(dir + "/copy.db").data == first.dataHash)
    }

    @Test func aStopSignalEndsAPass() throws {
        let temp = TempDir()
        let dir = temp.path
        let db = try walDatabase(dir, rows: 3000)
        let source = try reader(db)
        var steps = 0
        #expect(throws: EntrypointError.self) {
            try SQLite.hashPass(
                source, pageSize: 4096,
                stop: {
                    steps += 1
                    return steps > 1 ? SIGTERM : 0
                })
        }
        #expect(steps == 2)
    }

    @Test func aReaderThatStopsFailsThePassWithItsCause() throws {
        let temp = TempDir()
        let dir = temp.path
        let db = try walDatabase(dir, rows: 3000)
        let source = try reader(db)
        let first = try SQLite.hashPass(source, pageSize: 4096, stop: { 0 })
        var taken = 0
        do {
            try SQLite.streamPass(
                source, first, stop: { 0 },
                sink: { bytes in
                    taken += bytes.count
                    return taken < 1 << 20
                })
            Issue.record("a stopped reader did not fail the pass")
        } catch {
            #expect(error.message.contains("the stream's reader stopped"), "\(error.message)")
        }
    }

    @Test func pagesOutOfOrderFailTheStreamInsteadOfCorruptingIt() {
        var got: [UInt8] = []
        let stream = PageStream(pageSize: 512) { bytes in
            got.append(contentsOf: bytes)
            return true
        }
        let page = [UInt8](repeating: 7, count: 512)
        page.withUnsafeBytes { #expect(stream.write($0, at: 512) == SQLITE_OK) }
        page.withUnsafeBytes { #expect(stream.write($0, at: 512 * 3) == SQLITE_OK) }  // page 3 skipped: zeros
        #expect(got.count == 512 * 3)
        #expect(got[512..<1024].allSatisfy { $0 == 0 })
        page.withUnsafeBytes { #expect(stream.write($0, at: 512 * 2) != SQLITE_OK) }
        #expect(stream.failure?.contains("out of order") == true)
        var buffer = [UInt8](repeating: 1, count: 512)
        buffer.withUnsafeMutableBytes { #expect(stream.read($0.baseAddress!, 512, at: 512) != SQLITE_OK) }
    }
}
