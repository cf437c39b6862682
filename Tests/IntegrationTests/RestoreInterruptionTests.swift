// A restore stopped by SIGTERM, two starts on one volume, a lock held too long, a kill at any
// instant of the install: nothing partial is left and nothing is lost.
import Foundation
import TestSupport
import Testing

@Suite(.serialized) struct RestoreInterruptionTests {
    @Test func sigtermDuringDownloadStopsCleanly() throws {
        let w = try World()
        let good = try w.publish(["old"])
        #expect(try run([], env: w.env()).status == 0)
        try w.publish(["new"], padding: 2_000_000)
        try w.fake.fault(["route": "files/download", "kind": "throttle", "bytes_per_second": 100_000])
        let runner = try Runner([], env: w.env())
        // Wait until the download has started.
        for _ in 0..<100 where !w.leftovers().contains(where: { $0.contains(".entrypoint-download-") }) { usleep(50_000) }
        usleep(300_000)
        let sent = Date()
        kill(runner.pid, SIGTERM)
        let r = runner.wait(timeout: 10)
        #expect(r.status == 128 + SIGTERM, "\(r.output)")
        #expect(Date().timeIntervalSince(sent) < 1.5)
        #expect(r.stderr.contains("stopped by SIGTERM"))
        #expect(bytes(w.db) == bytes(good))
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }

    @Test func twoConcurrentStartsDownloadOnce() throws {
        let w = try World()
        let source = try w.publish(["shared"], padding: 1_000_000)
        try w.fake.fault(["route": "files/download", "kind": "throttle", "bytes_per_second": 2_000_000])
        let a = try Runner([], env: w.env())
        let b = try Runner([], env: w.env())
        let ra = a.wait()
        let rb = b.wait()
        #expect(ra.status == 0 && rb.status == 0, "\(ra.output)\n\(rb.output)")
        #expect(w.fake.requests("files/download").count == 1)
        #expect((ra.stderr + rb.stderr).contains("waiting for it"))
        #expect((ra.stderr + rb.stderr).contains("No download needed (hash match)"))
        #expect(bytes(w.db) == bytes(source))
    }

    @Test func lockHeldTooLongTimesOut() throws {
        let w = try World()
        try w.publish(["x"])
        try FileManager.default.createDirectory(atPath: w.volume.path + "/database", withIntermediateDirectories: true)
        let fd = open(w.db + ".entrypoint.lock", O_RDWR | O_CREAT, 0o644)
        defer { close(fd) }
        #expect(flock(fd, LOCK_EX) == 0)
        let r = try run([], env: w.env(["ENTRYPOINT_LOCK_TIMEOUT": "1"]))
        #expect(r.status == 75, "\(r.output)")
        #expect(r.stderr.contains("ENTRYPOINT_LOCK_TIMEOUT"))
    }

    /// SIGKILL at every step of an install (and at random moments of the download): afterwards the
    /// database path holds the old or the new file, intact, with no stale sidecar beside it.
    @Test func crashSafety() throws {
        let w = try World()
        let old = try w.publish(["old"], padding: 300_000)
        #expect(try run([], env: w.env()).status == 0)
        // The app wrote in WAL mode since: sidecars exist, and a copy must be kept.
        try DB.sql(w.db, "PRAGMA journal_mode=WAL; INSERT INTO items VALUES ('local');")
        let new = try w.publish(["new"], padding: 300_000)
        // The record of the old restore: part of "the old state" that each point starts from.
        let oldRecord = try #require(bytes(w.db + ".entrypoint.json"))
        let points = ["downloaded", "verified", "before-sidecars", "sidecar-moved", "before-rename", "after-rename", "before-record", "after-record"]
        for point in points {
            let r = try run([], env: w.env(["ENTRYPOINT_TEST_CRASH_AT": point]))
            try checkIntact(w, old: old, new: new, after: "crash at \(point) (status \(r.status))")
            if bytes(w.db) == bytes(new) {
                // Back to the old state for the next point.
                try FileManager.default.removeItem(atPath: w.db)
                try FileManager.default.copyItem(atPath: old, toPath: w.db)
                try DB.sql(w.db, "PRAGMA journal_mode=WAL; INSERT INTO items VALUES ('local');")
                try oldRecord.write(to: URL(fileURLWithPath: w.db + ".entrypoint.json"))
            }
        }
        // Random kills during the (throttled) download.
        try w.fake.fault(["route": "files/download", "kind": "throttle", "bytes_per_second": 1_000_000, "times": -1])
        for delay in [50_000, 150_000, 250_000] as [UInt32] {
            let runner = try Runner([], env: w.env())
            usleep(delay)
            kill(runner.pid, SIGKILL)
            _ = runner.wait()
            try checkIntact(w, old: old, new: new, after: "SIGKILL after \(delay / 1000) ms")
        }
        // A normal start afterwards cleans up and installs the new file.
        try w.fake.clearFaults()
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(new))
        #expect(!w.leftovers().contains { $0.contains("entrypoint-download") })
    }

    func checkIntact(_ w: World, old: String, new: String, after what: String) throws {
        let current = try #require(bytes(w.db), "\(what): the database is missing")
        // The old file may have WAL content checkpointed into it, so compare by content for "old".
        let isNew = current == bytes(new)
        let items = try DB.items(w.db)
        #expect(isNew || items == ["old", "local"], "\(what): neither old nor new: \(items)")
        #expect(DB.integrity(w.db) == "ok", "\(what)")
        if isNew {
            #expect(!FileManager.default.fileExists(atPath: w.db + "-wal"), "\(what): stale WAL beside the new database")
            #expect(!FileManager.default.fileExists(atPath: w.db + "-journal"), "\(what)")
        }
        _ = old
    }
}
