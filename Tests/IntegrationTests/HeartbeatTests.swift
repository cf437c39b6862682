// ENTRYPOINT_HEARTBEAT_URL against a local HTTP server (Python's http.server on
// loopback): a GET after successful periodic and stop backups, a POST to /fail with the reason after
// a failed one, an unreachable URL changes nothing, and the URL (a secret) never reaches the log.
import Foundation
import TestSupport
import Testing

/// An HTTP server on 127.0.0.1 that records every request (method, path, body) and answers 200.
final class HeartbeatServer: @unchecked Sendable {
    let dir = TempDir()
    let server: LocalServer
    static let script = """
        import http.server, json, os, sys
        log, portfile = sys.argv[1], sys.argv[2]
        class H(http.server.BaseHTTPRequestHandler):
            def record(self, body):
                with open(log, "a") as f:
                    f.write(json.dumps({"method": self.command, "path": self.path, "body": body.decode()}) + "\\n")
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")
            def do_GET(self):
                self.record(b"")
            def do_POST(self):
                self.record(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            def log_message(self, *args):
                pass
        s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        open(portfile + ".tmp", "w").write(str(s.server_address[1]))
        os.rename(portfile + ".tmp", portfile)
        s.serve_forever()
        """

    init() throws {
        server = try LocalServer(
            python: ["-c", Self.script, dir.file("log.jsonl"), dir.file("port")], portFile: dir.file("port"), what: "the heartbeat receiver")
    }

    func stop() { server.stop() }

    /// The secret part of the URL: a test fails if it shows up in any output.
    static let key = "hb-SECRET-KEY-7f3e"
    var url: String { "http://127.0.0.1:\(server.port)/ping/\(Self.key)" }

    var requests: [[String: String]] {
        let text = (try? String(contentsOfFile: dir.file("log.jsonl"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: String] }
    }
}

@Suite struct HeartbeatTests {
    /// Writes a row, then lives `seconds` more (periodic backups tick meanwhile), then exits 0.
    static func app(_ seconds: Double) -> [String] {
        [
            "python3", "-c",
            """
            import os, sqlite3, time
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
            db.execute("INSERT INTO items VALUES ('written-by-the-app')")
            db.commit()
            db.close()
            time.sleep(\(seconds))
            """,
        ]
    }

    func check(_ r: RunResult, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(!r.output.contains(HeartbeatServer.key), "the heartbeat URL leaked: \(r.output)", sourceLocation: sourceLocation)
    }

    /// Dropbox holds `base`, a heartbeat receiver listens; with `failingUploads` every upload answers 503.
    func world(failingUploads: Bool = false) throws -> (World, HeartbeatServer) {
        let w = try World()
        let hb = try HeartbeatServer()
        try w.publish(["base"])
        if failingUploads { try w.fake.fault(["route": "files/upload", "kind": "status", "status": 503, "times": -1]) }
        return (w, hb)
    }

    /// Runs `command` with the heartbeat URL and `settings`; the URL is checked never to show in the output.
    func run(_ command: [String], _ w: World, _ hb: HeartbeatServer, _ settings: [String: String], sourceLocation: SourceLocation = #_sourceLocation) throws
        -> RunResult
    {
        let r = try TestSupport.run(command, env: w.env(settings.merging(["ENTRYPOINT_HEARTBEAT_URL": hb.url]) { _, url in url }))
        check(r, sourceLocation: sourceLocation)
        return r
    }

    @Test func successfulPeriodicAndStopBackupsPing() throws {
        let (w, hb) = try world()
        let r = try run(Self.app(3), w, hb, ["ENTRYPOINT_BACKUP_INTERVAL": "1", "ENTRYPOINT_BACKUP_ON_STOP": "1", "ENTRYPOINT_LOG_LEVEL": "debug"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("Backed up"), "\(r.stderr)")
        let got = hb.requests
        // The periodic backup's (and an unchanged tick's) and the stop backup's, all GET, no /fail.
        #expect(got.count >= 2, "\(got)\n\(r.stderr)")
        #expect(got.allSatisfy { $0["method"] == "GET" && $0["path"] == "/ping/\(HeartbeatServer.key)" }, "\(got)")
        #expect(r.stderr.contains("heartbeat (success) delivered"), "\(r.stderr)")
    }

    @Test func aFailedStopBackupPostsTheReasonToFail() throws {
        let (w, hb) = try world(failingUploads: true)
        let r = try run(Self.app(0), w, hb, ["ENTRYPOINT_BACKUP_ON_STOP": "1", "ENTRYPOINT_MAX_ATTEMPTS": "1"])
        #expect(r.status == 0, "the app's status, whatever the backup did: \(r.output)")
        #expect(r.stderr.contains("stop backup failed"), "\(r.stderr)")
        let got = hb.requests
        #expect(got.count == 1, "\(got)")
        #expect(got.first?["method"] == "POST" && got.first?["path"] == "/ping/\(HeartbeatServer.key)/fail", "\(got)")
        let body = got.first?["body"] ?? ""
        #expect(body.hasPrefix("stop backup failed (exit 69 after ") && body.hasSuffix("[exit 69: Dropbox unavailable]\n"), "\(body)")
        #expect(body.split(separator: "\n").count == 1)
    }

    @Test func aFailedPeriodicBackupPostsToFailAndTheAppKeepsRunning() throws {
        let (w, hb) = try world(failingUploads: true)
        let r = try run(Self.app(2.5), w, hb, ["ENTRYPOINT_BACKUP_INTERVAL": "1", "ENTRYPOINT_MAX_ATTEMPTS": "1"])
        #expect(r.status == 0, "\(r.output)")
        let fails = hb.requests.filter { $0["path"] == "/ping/\(HeartbeatServer.key)/fail" }
        #expect(!fails.isEmpty, "\(hb.requests)\n\(r.stderr)")
        #expect(fails.allSatisfy { ($0["body"] ?? "").hasPrefix("periodic backup failed (exit 69 after ") }, "\(fails)")
        #expect(!hb.requests.contains { $0["method"] == "GET" }, "no success ping while every backup fails")
    }

    @Test func withoutSupervisionAWarningSaysNoHeartbeatWillBeSent() throws {
        let (w, hb) = try world()
        let r = try run(["true"], w, hb, [:])
        #expect(r.status == 0, "\(r.output)")
        #expect(countLines(r.stderr, containing: "warning: ENTRYPOINT_HEARTBEAT_URL is set but no backups run while true runs") == 1, "\(r.stderr)")
        #expect(hb.requests.isEmpty)
    }

    @Test func anUnreachableURLChangesNothing() throws {
        // A port nobody listens on: the receiver's once it is stopped (bound, read, closed).
        let (w, dead) = try world()
        dead.stop()
        let r = try run(Self.app(0), w, dead, ["ENTRYPOINT_BACKUP_ON_STOP": "1", "ENTRYPOINT_LOG_LEVEL": "debug"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("stop backup done"), "\(r.stderr)")
        #expect(countLines(r.stderr, containing: "heartbeat (success) not delivered") == 1, "\(r.stderr)")
        #expect(!r.stderr.contains("entrypoint: warning: ") && !r.stderr.contains("entrypoint: error: "), "\(r.stderr)")
        let check = try run(["--check"], w, dead, [:])
        #expect(check.stdout.contains("ENTRYPOINT_HEARTBEAT_URL = (set, redacted)"), "\(check.stdout)")
    }
}
