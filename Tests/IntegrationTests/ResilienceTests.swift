// Issue 3: fault injection, SQLite-aware local state, local writes kept, signals, locks, disks.
import CShims
import Foundation
import Testing
import TestSupport

@Suite struct FaultTests {
    @Test func serviceUnavailableThenSuccess() throws {
        let w = try World()
        try w.publish(["after-503"])
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 503, "body": "upstream busy", "times": 2])
        try w.fake.fault(["route": "files/download", "kind": "status", "status": 503, "times": 2])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["after-503"])
        #expect(w.fake.requests("files/get_metadata").map { $0["status"] as? Int } == [503, 503, 200])
        #expect(r.stderr.contains("retrying in"))
    }

    @Test func persistent503GivesUpWithinTheAttemptBudget() throws {
        let w = try World()
        try w.publish(["x"])
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 503, "times": -1])
        let r = try run([], env: w.env(["ENTRYPOINT_MAX_ATTEMPTS": "3"]))
        #expect(r.status == 69, "\(r.output)")
        #expect(r.stderr.contains("failed after 3 attempts: HTTP 503"))
        #expect(w.fake.requests("files/get_metadata").count == 3)
    }

    @Test func rateLimitHonoursRetryAfter() throws {
        let w = try World()
        try w.publish(["after-429"])
        let body = #"{"error_summary": "too_many_requests/..", "error": {"reason": {".tag": "too_many_requests"}, "retry_after": 1}}"#
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 429, "body": body, "headers": ["Retry-After": "1"]])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let times = w.fake.requests("files/get_metadata").compactMap { $0["t"] as? Double }
        #expect(times.count == 2)
        #expect(times[1] - times[0] >= 0.9, "waited for Retry-After: \(times[1] - times[0])s")
    }

    @Test func jsonRetryAfterWithoutHeader() throws {
        let w = try World()
        try w.publish(["x"])
        let body = #"{"error_summary": "too_many_write_operations/..", "error": {"reason": {".tag": "too_many_write_operations"}, "retry_after": 1}}"#
        try w.fake.fault(["route": "files/download", "kind": "status", "status": 429, "body": body])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let times = w.fake.requests("files/download").compactMap { $0["t"] as? Double }
        #expect(times.count == 2 && times[1] - times[0] >= 0.9)
    }

    @Test func retryAfterBeyondTheDeadlineFailsFast() throws {
        let w = try World()
        try w.publish(["x"])
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 429, "headers": ["Retry-After": "300"], "times": -1])
        let started = Date()
        let r = try run([], env: w.env(["ENTRYPOINT_DEADLINE": "5"]))
        #expect(r.status == 69, "\(r.output)")
        #expect(r.stderr.contains("ENTRYPOINT_DEADLINE"))
        #expect(Date().timeIntervalSince(started) < 5)
    }

    @Test func droppedConnectionResumesWithRange() throws {
        let w = try World()
        let source = try w.publish(["big"], padding: 3_000_000)
        try w.fake.fault(["route": "files/download", "kind": "drop_after", "bytes": 1_000_000])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        let downloads = w.fake.requests("files/download")
        #expect(downloads.count == 2)
        let range = try #require(downloads.last?["range"] as? String)
        #expect(range.hasPrefix("bytes=") && range != "bytes=0-", "\(range)")
        // Still pinned to the same revision.
        let paths = downloads.compactMap { ($0["arg"] as? [String: Any])?["path"] as? String }
        #expect(Set(paths).count == 1 && paths[0].hasPrefix("rev:"))
    }

    @Test func truncatedBodyIsCompletedNotInstalled() throws {
        let w = try World()
        let source = try w.publish(["t"], padding: 500_000)
        try w.fake.fault(["route": "files/download", "kind": "truncate", "bytes": 100_000])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(w.fake.requests("files/download").count == 2)
    }

    @Test func throttledLinkStillCompletes() throws {
        let w = try World()
        let source = try w.publish(["slow"], padding: 200_000)
        try w.fake.fault(["route": "files/download", "kind": "throttle", "bytes_per_second": 400_000])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
    }

    @Test func largeTransfersLogProgress() throws {
        let w = try World()
        try w.publish(["progress"], padding: 1_000_000)
        try w.fake.fault(["route": "files/download", "kind": "throttle", "bytes_per_second": 1_000_000])
        let r = try run([], env: w.env(["ENTRYPOINT_PROGRESS_THRESHOLD_MB": "0", "ENTRYPOINT_PROGRESS_INTERVAL": "0.2"]))
        #expect(r.status == 0, "\(r.output)")
        let lines = r.stderr.split(separator: "\n").filter { $0.hasPrefix("entrypoint: downloading: ") }
        #expect(lines.count >= 2, "\(r.stderr)")
        #expect(lines.first?.contains("%), ") == true && lines.first?.contains("/s") == true, "\(lines)")
        #expect(lines.last?.contains(" in ") == true, "a closing summary line: \(lines)")
        // Below the threshold (default 16 MiB) nothing is logged.
        let quiet = try run([], env: w.env(["RAILWAY_DB_PATH": w.volume.file("other.db")]))
        #expect(!quiet.stderr.contains("downloading:"), "\(quiet.stderr)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"), "util-linux script gives a terminal"))
    func terminalGetsALiveProgressBar() throws {
        let w = try World()
        try w.publish(["bar"], padding: 1_000_000)
        try w.fake.fault(["route": "files/download", "kind": "throttle", "bytes_per_second": 1_000_000])
        var env = w.env(["ENTRYPOINT_PROGRESS_THRESHOLD_MB": "0"])
        env["PATH"] = "/usr/bin:/bin"
        env["TERM"] = "dumb"
        // `script` runs the binary with stderr on a pseudo-terminal.
        let quoted = "'\(Paths.binary)'"
        let r = try Spawned("/usr/bin/script", ["-qec", quoted, "/dev/null"], env: env).finish(timeout: 60)
        let out = String(decoding: r.stdout, as: UTF8.self)
        #expect(r.status == 0, "\(out)")
        #expect(out.contains("\r\u{1B}[2K[#"), "a redrawn bar: \(out.debugDescription)")
        #expect(out.contains("Restored to"))
    }

    @Test func stalledTransferIsNoticedAndRetried() throws {
        let w = try World()
        let source = try w.publish(["stall"], padding: 200_000)
        try w.fake.fault(["route": "files/download", "kind": "stall", "bytes": 10_000, "seconds": 30])
        let started = Date()
        let r = try run([], env: w.env(["ENTRYPOINT_STALL_TIMEOUT": "1"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(Date().timeIntervalSince(started) < 20)
    }

    @Test func htmlPageWithStatus200IsRefused() throws {
        let w = try World()
        let good = try w.publish(["old"])
        #expect(try run([], env: w.env()).status == 0)
        try w.publish(["new"])
        try w.fake.fault(["route": "files/download", "kind": "html", "times": -1])
        let r = try run(["sh", "-c", "echo started"], env: w.env())
        // The old database stays, and the app starts on it (ENTRYPOINT_ON_UNAVAILABLE=auto).
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("HTML page"))
        #expect(r.stdout.contains("started"))
        #expect(bytes(w.db) == bytes(good))
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }

    @Test func oneCorruptedByteIsRefusedAndTheOldDatabaseStays() throws {
        let w = try World()
        let good = try w.publish(["old"])
        #expect(try run([], env: w.env()).status == 0)
        try w.publish(["new"], padding: 100_000)
        try w.fake.fault(["route": "files/download", "kind": "corrupt_byte", "offset": 50_000, "times": -1])
        let r = try run([], env: w.env(["ENTRYPOINT_ON_UNAVAILABLE": "fail"]))
        #expect(r.status == 65, "\(r.output)")
        #expect(bytes(w.db) == bytes(good))
        #expect(w.leftovers().isEmpty)
    }

    @Test func nonSQLiteRemoteFileIsRefused() throws {
        let w = try World()
        _ = try w.publishRaw(Data("this is a text file, not a database\n".utf8))
        let r = try run([], env: w.env())
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.contains("not a SQLite database"))
        #expect(!FileManager.default.fileExists(atPath: w.db))
    }

    @Test func corruptSQLiteRemoteFileFailsQuickCheck() throws {
        let w = try World()
        let file = w.sources.file("corrupt.db")
        try DB.make(file, rows: ["x"], padding: 400_000)
        var data = try Data(contentsOf: URL(fileURLWithPath: file))
        for i in 8192..<8192 + 200 { data[i] = 0xA5 }
        _ = try w.publishRaw(data)
        let r = try run([], env: w.env())
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.contains("quick_check"))
        #expect(!FileManager.default.fileExists(atPath: w.db))
        #expect(w.leftovers().isEmpty)
    }

    @Test func accessTokenExpiringMidRun() throws {
        let w = try World()
        let source = try w.publish(["mid-run"], padding: 100_000)
        // The first issued token authorises exactly one request (the metadata), then expires.
        w.fake.extra = ["expire_after_requests": [Secrets.issued[0]: 1]]
        try w.fake.write()
        let r = try run([], env: w.env(w.refreshEnv, token: nil))
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        let downloads = w.fake.requests("files/download")
        #expect(downloads.map { $0["status"] as? Int } == [401, 200])
        #expect(downloads.last?["auth"] as? String == Secrets.issued[1])
        #expect(w.fake.requests("oauth2/token").count == 2)
    }

    @Test func contentEndpointAuthQuirkAlsoRefreshes() throws {
        let w = try World()
        try w.publish(["quirk"])
        try w.fake.fault(["route": "files/download", "kind": "auth_other"])
        let r = try run([], env: w.env(w.refreshEnv))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("oauth2/token").count == 1)
    }

    @Test func unreachableDropboxWithLocalDatabaseStartsOnIt() throws {
        let w = try World()
        let good = try w.publish(["local"])
        #expect(try run([], env: w.env()).status == 0)
        // Nothing listens on port 9 of loopback.
        let r = try run(["sh", "-c", "echo started"], env: w.env(["DROPBOX_API_URL": "https://127.0.0.1:9", "ENTRYPOINT_MAX_ATTEMPTS": "2"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("started"))
        #expect(r.stderr.contains("starting on the existing local database"))
        #expect(bytes(w.db) == bytes(good))
    }
}

@Suite struct LocalStateTests {
    @Test func walModeLocalDatabaseWithUncheckpointedWritesIsKept() throws {
        let w = try World()
        try w.publish(["remote"])
        #expect(try run([], env: w.env()).status == 0)
        // The app writes in WAL mode, and the WAL is never checkpointed (a crash).
        try DB.sql(w.db, "PRAGMA journal_mode=WAL;")
        let writer = try Spawned(
            "/usr/bin/env",
            ["python3", "-c", """
            import sqlite3, os, sys
            c = sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_autocheckpoint=0')
            c.execute("INSERT INTO items VALUES ('written-in-emergency')"); c.commit()
            os._exit(0)
            """, w.db], env: ProcessInfo.processInfo.environment)
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
        try FileManager.default.createDirectory(atPath: w.volume.path + "/database", withIntermediateDirectories: true)
        try DB.make(w.db, rows: ["unknown-origin"])
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
        try FileManager.default.createDirectory(atPath: w.volume.path + "/database", withIntermediateDirectories: true)
        try DB.make(w.db, rows: ["mine"])
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

@Suite(.serialized) struct ProcessTests {
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
        let ra = a.wait(), rb = b.wait()
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
