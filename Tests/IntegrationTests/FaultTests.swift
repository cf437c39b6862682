// Fault injection.
import Foundation
import TestSupport
import Testing

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
