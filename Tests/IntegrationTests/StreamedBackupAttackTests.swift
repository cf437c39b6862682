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
}
