// `--backup` of a rollback-journal database while the app commits throughout.
import Foundation
import TestSupport
import Testing

@Suite struct BackupSnapshotTests {
    /// A 64 MiB database in the default rollback journal; a Python app (sqlite3.connect(timeout=1), a
    /// busy timeout below Python's 5 s default) commits one numbered row every ~2 ms during the whole
    /// backup. No commit fails, and Dropbox gets one consistent state: a gap-free prefix of the rows.
    @Test func backupOfARollbackJournalDatabaseWhileTheAppCommits() throws {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(
            w.db,
            """
            INSERT INTO pad SELECT randomblob(1048576) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 64) SELECT i FROM c);
            """)
        #expect(try DB.sql(w.db, "PRAGMA journal_mode") == ["delete"])
        let stop = w.volume.file("stop-writer")
        let writer = try Spawned(
            "/usr/bin/env",
            [
                "python3", "-c",
                """
                import os, sqlite3, sys, time
                c = sqlite3.connect(sys.argv[1], timeout=1)
                i = 0; failures = 0
                while not os.path.exists(sys.argv[2]):
                    try:
                        c.execute("INSERT INTO items VALUES (?)", (f"row-{i + 1}",)); c.commit(); i += 1
                    except sqlite3.OperationalError as e:
                        failures += 1; print(f"commit failed: {e}", file=sys.stderr, flush=True); c.rollback()
                    time.sleep(0.002)
                print(i, failures)
                """, w.db, stop,
            ], env: ProcessInfo.processInfo.environment)
        for _ in 0..<500 where ((try? DB.sql(w.db, "SELECT count(*) FROM items").first) ?? nil).flatMap({ Int($0) }) ?? 0 < 20 {
            usleep(10_000)
        }
        let r = try run(["--backup"], env: w.env(), timeout: 120)
        try #require(FileManager.default.createFile(atPath: stop, contents: nil))
        let written = writer.finish(timeout: 30)
        let said = String(decoding: written.stdout, as: UTF8.self).split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        print(r.stderr)
        #expect(r.status == 0, "\(r.output)")
        #expect(written.status == 0 && said.count == 2, "\(String(decoding: written.stderr, as: UTF8.self))")
        #expect(said.last == 0, "the app's commits failed during the backup: \(String(decoding: written.stderr, as: UTF8.self))")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(DB.integrity(uploaded) == "ok")
        let rows = try DB.items(uploaded).dropFirst()
        #expect(rows.count >= 20, "the snapshot holds the rows committed before it")
        #expect(Array(rows) == (0..<rows.count).map { "row-\($0 + 1)" }, "a gap-free prefix")
        #expect(rows.count <= said.first ?? 0)
        #expect(try DB.sql(uploaded, "SELECT count(*) FROM pad WHERE length(b) = 1048576") == ["64"])
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }
}
