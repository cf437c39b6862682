// The stop's lines say what happened, and with Dropbox unreachable the stop
// backup keeps trying for the whole window that is left.
import Foundation
import TestSupport
import Testing

@Suite struct StopLinesTests {
    /// Dropbox unreachable (a closed loopback port), a local database with a change, restore off.
    func unreachable(_ extra: [String: String]) throws -> (World, [String: String]) {
        let w = try World()
        try w.localDatabase(["local"])
        var env = w.env(["ENTRYPOINT_RESTORE_MODE": "off", "ENTRYPOINT_BACKUP_ON_STOP": "1"])
        env["DROPBOX_API_URL"] = "http://127.0.0.1:9"
        env["DROPBOX_CONTENT_URL"] = "http://127.0.0.1:9"
        env.merge(extra) { $1 }
        return (w, env)
    }

    @Test func dropboxUnreachableForTheWholeStopWindowIsCutOffAtItsEnd() throws {
        // Backoffs far longer than the window: the last try must not be skipped for them.
        let (w, env) = try unreachable([
            "ENTRYPOINT_STOP_DEADLINE": "4", "ENTRYPOINT_MAX_ATTEMPTS": "100", "ENTRYPOINT_BACKOFF_BASE": "30", "ENTRYPOINT_BACKOFF_CAP": "30",
        ])
        let started = Date()
        let r = try run(["sh", "-c", "exit 3"], env: env)
        withExtendedLifetime(w) {}
        let took = Date().timeIntervalSince(started)
        #expect(r.status == 3, "the app's status: \(r.output)")
        #expect(r.stderr.contains("stop backup did not finish within the 4s stop deadline (ENTRYPOINT_STOP_DEADLINE): cut off after"), "\(r.stderr)")
        #expect(r.stderr.contains("s stop deadline (what was left of ENTRYPOINT_STOP_DEADLINE)"), "the worker names its own deadline: \(r.stderr)")
        #expect(!r.stderr.contains("ENTRYPOINT_DEADLINE"), "the worker's deadline is not ENTRYPOINT_DEADLINE: \(r.stderr)")
        #expect(!r.stderr.contains("restore deadline"), "\(r.stderr)")
        #expect(countLines(r.stderr, containing: "retrying in") >= 2, "kept trying through the window: \(r.stderr)")
        #expect(took > 2.5 && took < 4 + 4, "used the window and kept to it: \(took)s")
    }

    @Test func dropboxFailingBeforeTheDeadlineSaysSo() throws {
        let (w, env) = try unreachable(["ENTRYPOINT_STOP_DEADLINE": "20", "ENTRYPOINT_MAX_ATTEMPTS": "2"])
        let r = try run(["sh", "-c", "exit 0"], env: env)
        withExtendedLifetime(w) {}
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("stop backup failed: Dropbox unreachable or failing (exit 69 after"), "\(r.stderr)")
        #expect(!r.stderr.contains("did not finish within"), "\(r.stderr)")
    }

    @Test func aManualBackupNamesItsOwnDeadline() throws {
        let (w, env) = try unreachable(["ENTRYPOINT_DEADLINE": "2", "ENTRYPOINT_MAX_ATTEMPTS": "100"])
        let r = try run(["--backup"], env: env)
        withExtendedLifetime(w) {}
        #expect(r.status == 69, "\(r.output)")
        #expect(r.stderr.contains("the 2s backup deadline (ENTRYPOINT_DEADLINE)"), "\(r.stderr)")
    }
}

@Suite struct StoppedWorkerTests {
    @Test func aStoppedBackupLeavesNoSnapshotBehind() throws {
        let w = try World()
        try w.publish(["base"])
        // A worker deaf to SIGTERM, stuck after creating its snapshot file: SIGKILL at the deadline.
        let app = "import os, sqlite3; db = sqlite3.connect(os.environ['RAILWAY_DB_PATH']); db.execute(\"INSERT INTO items VALUES ('late')\"); db.commit()"
        let r = try run(
            ["python3", "-c", app], env: w.env(["ENTRYPOINT_BACKUP_ON_STOP": "1", "ENTRYPOINT_STOP_DEADLINE": "2", "ENTRYPOINT_TEST_HANG_AT": "snapshot"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("stopped it (exit 137"), "\(r.stderr)")
        #expect(w.leftovers().filter { $0.contains("entrypoint-backup") }.isEmpty, "\(w.leftovers())")
    }

    @Test func aWorkerOnATerminalWithTostopIsNotStopped() throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let driver = dir.file("tty_driver.py")  // not pty.py: it would shadow the module
        // Runs entrypoint on a new pseudo-terminal with `stty tostop`, prints its output and status.
        try """
        import os, pty, select, sys, termios, time
        pid, fd = pty.fork()
        if pid == 0:
            a = termios.tcgetattr(0); a[3] |= termios.TOSTOP; termios.tcsetattr(0, termios.TCSANOW, a)
            os.execv(sys.argv[1], sys.argv[1:])
        out, status, end = b"", None, time.time() + 40
        while time.time() < end and status is None:
            if select.select([fd], [], [], 0.1)[0]:
                try:
                    out += os.read(fd, 65536)
                except OSError:
                    pass
            p, st = os.waitpid(pid, os.WNOHANG)
            if p:
                status = os.waitstatus_to_exitcode(st)
        sys.stdout.write(out.decode(errors="replace"))
        print("STATUS", status)
        """.write(toFile: driver, atomically: true, encoding: .utf8)
        let app =
            "import os, sqlite3, time; db = sqlite3.connect(os.environ['RAILWAY_DB_PATH']); db.execute(\"INSERT INTO items VALUES ('on-a-tty')\"); db.commit(); time.sleep(2.5)"
        let p = try Spawned(
            "/usr/bin/python3", [driver, Paths.binary, "python3", "-c", app],
            env: w.env([
                "PATH": "/usr/local/bin:/usr/bin:/bin", "ENTRYPOINT_BACKUP_INTERVAL": "1", "ENTRYPOINT_BACKUP_ON_STOP": "1", "ENTRYPOINT_STOP_DEADLINE": "6",
            ]))
        let r = p.finish(timeout: 60)
        let out = String(decoding: r.stdout, as: UTF8.self)
        #expect(out.contains("STATUS 0"), "\(out) \(String(decoding: r.stderr, as: UTF8.self))")
        let uploaded = try #require(w.fake.uploaded("/database.db").last, "no backup finished on the terminal: \(out)")
        #expect(try DB.items(uploaded) == ["base", "on-a-tty"])
    }
}
