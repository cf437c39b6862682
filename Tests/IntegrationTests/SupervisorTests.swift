// Supervision against the fake Dropbox: the child's exit status, reaping, what the child sees, when
// the supervisor execs instead, periodic backups, and the stop backup within the stop deadline.
// Signal forwarding: SignalForwardingTests; a database kept locked: LockedDatabaseTests.
import Foundation
import TestSupport
import Testing

@Suite struct SupervisorTests {
    /// A world whose remote database is published; `env` turns on supervision.
    func world(rows: [String] = ["base"]) throws -> World {
        let w = try World()
        try w.publish(rows)
        return w
    }

    let onStop = ["ENTRYPOINT_BACKUP_ON_STOP": "1"]

    // MARK: - exit status, reaping, what the child sees

    @Test(arguments: [
        (["true"], Int32(0)), (["sh", "-c", "exit 7"], Int32(7)), (["sh", "-c", "kill -KILL $$"], Int32(137)), (["sh", "-c", "kill -TERM $$"], Int32(143)),
    ])
    func exitsWithTheChildsStatus(command: [String], expected: Int32) throws {
        let w = try world()
        let r = try run(command, env: w.env(onStop.merging(["ENTRYPOINT_BACKUP_INTERVAL": "1h"]) { $1 }))
        #expect(r.status == expected, "\(r.output)")
        #expect(r.stderr.contains("supervising"), "\(r.stderr)")
    }

    @Test func orphanedGrandchildrenAreReaped() throws {
        let w = try world()
        let dir = TempDir()
        let gp = dir.file("grandchild")
        // The inner shell starts a sleep and exits at once: the sleep is orphaned and re-parented to
        // the supervisor (a child subreaper), which must reap it when it ends.
        let script = "sh -c 'sleep 1 & echo $! > \"$0\"' \"$0\"; sleep 4"
        let runner = try Runner(["sh", "-c", script, gp], env: w.env(onStop))
        #expect(eventually { Int32(fileText(gp).trimmingCharacters(in: .whitespacesAndNewlines)) != nil })
        let pid = try #require(Int32(fileText(gp).trimmingCharacters(in: .whitespacesAndNewlines)))
        usleep(300_000)
        if let alive = procState(pid) {
            #expect(alive.ppid == runner.pid, "the orphan was re-parented to the supervisor")
        }
        // The sleep ends after 1 s; then it must not stay a zombie.
        usleep(2_000_000)
        let after = procState(pid)
        #expect(after == nil || after!.state != "Z", "grandchild \(pid) left as a zombie: \(String(describing: after))")
        let r = runner.wait()
        #expect(r.status == 0, "\(r.output)")
    }

    @Test func childSeesWhatAnExecdCommandSees() throws {
        let w = try world()
        let python = """
            import json, os, sys
            status = {l.split(":")[0]: l.split(":")[1].strip() for l in open("/proc/self/status") if l.startswith(("SigBlk", "SigIgn"))}
            env = {k: v for k, v in os.environ.items() if not k.startswith("DROPBOX_")}  # no secret in the output
            print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": env, "fds": sorted(os.listdir("/proc/self/fd")), "sig": status}))
            """
        let args = ["with space", "it's", "ünïcødé", "", "--port", "$PORT"]
        func output(_ extra: [String: String]) throws -> [String: Any] {
            let r = try run(["python3", "-c", python] + args, env: w.env(["PORT": "8123"].merging(extra) { $1 }))
            #expect(r.status == 0, "\(r.output)")
            return try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        }
        let exec = try output([:])
        let supervised = try output(onStop)
        #expect(supervised["argv"] as? [String] == exec["argv"] as? [String])
        #expect((supervised["argv"] as? [String])?.last == "8123", "$PORT expanded as on the exec path")
        #expect(supervised["cwd"] as? String == exec["cwd"] as? String)
        var env = try #require(supervised["env"] as? [String: String])
        #expect(env.removeValue(forKey: "ENTRYPOINT_BACKUP_ON_STOP") == "1")
        #expect(env == exec["env"] as? [String: String])
        #expect(supervised["fds"] as? [String] == exec["fds"] as? [String], "no extra descriptor reaches the child")
        // Python ignores SIGPIPE and SIGXFSZ itself; the rest must be as with exec (nothing blocked).
        #expect((supervised["sig"] as? [String: String])?["SigBlk"] == "0000000000000000")
        #expect(supervised["sig"] as? [String: String] == exec["sig"] as? [String: String])
    }

    @Test func notFoundAndNotExecutableAreTheSameAsWithExec() throws {
        let w = try world()
        var r = try run(["no-such-command-xyz"], env: w.env(onStop))
        #expect(r.status == 127, "\(r.output)")
        #expect(r.stderr.contains("no-such-command-xyz: command not found"))
        r = try run(["/"], env: w.env(onStop))
        #expect(r.status == 126, "\(r.output)")
    }

    @Test func withoutTheSettingsOrWithoutCredentialsTheCommandIsExecd() throws {
        // Same PID: exec'd, not supervised.
        var runner = try Runner(["sh", "-c", "echo $$"], env: onStop)
        var r = runner.wait()
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(runner.pid))
        #expect(r.stderr.contains("no Dropbox credentials: no backups"), "\(r.stderr)")
        let w = try world()
        runner = try Runner(["sh", "-c", "echo $$"], env: w.env())
        r = runner.wait()
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(runner.pid))
        #expect(!r.stderr.contains("supervising"))
    }

    // MARK: - periodic backups

    @Test func unchangedDatabaseUploadsNothing() throws {
        let w = try world()
        let r = try run(["sleep", "3.5"], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("backups every 1s"), "\(r.stderr)")
        #expect(w.fake.requests("files/upload").isEmpty, "\(r.stderr)")
        // Decided from stat() alone: no worker started, so Dropbox was asked nothing after the restore.
        #expect(!r.stderr.contains("taking a snapshot"), "\(r.stderr)")
        #expect(w.fake.requests("files/get_metadata").count == 1, "\(r.stderr)")
    }

    @Test func aChangeCausesOneUpload() throws {
        let w = try world()
        let app = """
            import os, sqlite3, time
            time.sleep(0.3)
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
            db.execute("INSERT INTO items VALUES ('written-by-the-app')")
            db.commit()
            db.close()
            time.sleep(4)
            """
        let r = try run(["python3", "-c", app], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1"]))
        #expect(r.status == 0, "\(r.output)")
        let uploads = w.fake.requests("files/upload")
        #expect(uploads.count == 1, "\(r.stderr)")
        #expect(uploads.first?["status"] as? Int == 200)
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "written-by-the-app"])
    }

    @Test(arguments: ["wal", "delete"])
    func continuousWritesKeepTheAppRunningAndBackupsGoing(journal: String) throws {
        let w = try world()
        let app = """
            import os, sqlite3, sys, time
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"], timeout=30)
            db.execute("PRAGMA journal_mode=\(journal)")
            n, worst, end = 0, 0.0, time.monotonic() + 5
            while time.monotonic() < end:
                t = time.monotonic()
                n += 1
                db.execute("INSERT INTO items VALUES (?)", ("row-%d" % n,))
                db.commit()
                worst = max(worst, time.monotonic() - t)
                time.sleep(0.02)
            db.close()
            print(n, worst)
            """
        let r = try run(["python3", "-c", app], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1", "ENTRYPOINT_BACKUP_ON_STOP": "1"]), timeout: 90)
        #expect(r.status == 0, "\(r.output)")
        let parts = r.stdout.split(separator: " ")
        let count = try #require(Int(parts.first ?? ""), "\(r.output)")
        // A backup never holds the app's commits up for long (generous: the machine is shared).
        #expect((Double(parts.last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 99) < 10, "slowest commit: \(r.stdout)")
        let uploads = w.fake.requests("files/upload").filter { $0["status"] as? Int == 200 }
        #expect(uploads.count >= 3, "periodic backups kept going while the app committed: \(r.stderr)")
        #expect(!r.stderr.contains("periodic backup failed"), "\(r.stderr)")
        // The stop backup holds every row the app committed.
        let last = try #require(w.fake.uploaded("/database.db").last)
        #expect(DB.integrity(last) == "ok")
        let rows = try DB.items(last)
        #expect(rows.count == count + 1 && rows.last == "row-\(count)", "\(rows.count) rows, the app committed \(count)")
        // Either the stop backup uploaded the last rows, or a periodic backup that started after the
        // app's last commit already had (then the stop finds nothing new); the rows above prove which.
        #expect(r.stderr.contains("stop backup done") || r.stderr.contains("did not change since the last restore or upload; nothing to upload"), "\(r.stderr)")
    }

    @Test func aFailedPeriodicBackupIsRetriedAndNeverStopsTheApp() throws {
        let w = try world()
        try w.fake.fault(["route": "files/upload", "kind": "status", "status": 400, "times": 1])
        let app = """
            import os, sqlite3, time
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
            db.execute("INSERT INTO items VALUES ('kept')")
            db.commit()
            time.sleep(4.5)
            """
        let r = try run(["python3", "-c", app], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("periodic backup failed (exit "), "\(r.stderr)")
        #expect(r.stderr.contains("keeps running; trying again in 1s"), "\(r.stderr)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last, "the next interval uploaded: \(r.stderr)")
        #expect(try DB.items(uploaded) == ["base", "kept"])
    }

    // MARK: - the stop backup

    @Test func stopBackupHoldsRowsCommittedBeforeAndDuringTheStop() throws {
        let w = try world()
        let dir = TempDir()
        let ready = dir.file("ready")
        let app = """
            import os, signal, sqlite3, sys, time
            def stop(n, f):
                db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
                db.execute("INSERT INTO items VALUES ('committed-while-shutting-down')")
                db.commit()
                db.close()
                sys.exit(0)
            signal.signal(signal.SIGTERM, stop)
            open(sys.argv[1], "w").write(str(os.getpid()))
            while True:
                time.sleep(0.02)
            """
        // A slow upload, so that a second SIGTERM arrives during the stop backup.
        try w.fake.fault(["route": "files/upload", "kind": "delay", "seconds": 2, "times": 1])
        let runner = try Runner(["python3", "-c", app, ready], env: w.env(onStop))
        #expect(eventually { Int32(fileText(ready)) != nil })
        let appPid = try #require(Int32(fileText(ready)))
        try DB.sql(w.db, "INSERT INTO items VALUES ('committed-right-before-the-stop')")
        kill(runner.pid, SIGTERM)
        // Once the app is gone (reaped by the supervisor), a second SIGTERM: the stop backup goes on.
        #expect(eventually { procState(appPid) == nil })
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("received while stopping"), "\(r.stderr)")
        #expect(r.stderr.contains("stop backup done"), "\(r.stderr)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last, "\(r.stderr)")
        #expect(try DB.items(uploaded) == ["base", "committed-right-before-the-stop", "committed-while-shutting-down"])
    }

    @Test func aCrashedAppStillGetsItsStopBackup() throws {
        let w = try world()
        let app =
            "import os, sqlite3; db = sqlite3.connect(os.environ['RAILWAY_DB_PATH']); db.execute(\"INSERT INTO items VALUES ('before-the-crash')\"); db.commit(); os.abort()"
        let r = try run(["python3", "-c", app], env: w.env(onStop))
        #expect(r.status == 128 + SIGABRT, "\(r.output)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last, "\(r.stderr)")
        #expect(try DB.items(uploaded) == ["base", "before-the-crash"])
    }

    @Test func stopBackupIsBoundedByTheStopDeadline() throws {
        let w = try world()
        try w.fake.fault(["route": "files/upload", "kind": "delay", "seconds": 8, "times": 1])
        let app = "import os, sqlite3; db = sqlite3.connect(os.environ['RAILWAY_DB_PATH']); db.execute(\"INSERT INTO items VALUES ('late')\"); db.commit()"
        let started = Date()
        let r = try run(["python3", "-c", app], env: w.env(onStop.merging(["ENTRYPOINT_STOP_DEADLINE": "2"]) { $1 }))
        #expect(r.status == 0, "the app's status, not the backup's: \(r.output)")
        // The worker gets the time left as its ENTRYPOINT_DEADLINE and gives up itself; if it did
        // not, the supervisor would stop it at the deadline.
        #expect(r.stderr.contains("did not finish within the 2s stop deadline") || r.stderr.contains("stop backup failed (exit 69"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 7.5, "bounded by the deadline, not the 8 s upload")
        #expect(w.fake.uploaded("/database.db").isEmpty)
    }

    @Test func aStopBackupThatOverrunsItsDeadlineIsStopped() throws {
        let w = try world()
        // A worker deaf to SIGTERM and stuck (ENTRYPOINT_TEST_HANG_AT): SIGTERM at the deadline,
        // SIGKILL a second later.
        let app = "import os, sqlite3; db = sqlite3.connect(os.environ['RAILWAY_DB_PATH']); db.execute(\"INSERT INTO items VALUES ('late')\"); db.commit()"
        let started = Date()
        let r = try run(["python3", "-c", app], env: w.env(onStop.merging(["ENTRYPOINT_STOP_DEADLINE": "2", "ENTRYPOINT_TEST_HANG_AT": "snapshot"]) { $1 }))
        #expect(r.status == 0, "the app's status: \(r.output)")
        #expect(r.stderr.contains("stop backup did not finish within the 2s stop deadline (ENTRYPOINT_STOP_DEADLINE); stopped it (exit 137"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 12, "bounded by the stop deadline")
        #expect(w.fake.uploaded("/database.db").isEmpty)
    }

    /// ENTRYPOINT_STOP_DEADLINE=1 is allowed (1 s to 1 day), but the stop backup needed a whole
    /// second left after the app's exit, so it was always skipped ("the 1s stop deadline has
    /// passed"), even for an app that exits at once and a database that uploads in 0.2 s.
    @Test func theShortestStopDeadlineStillTriesTheStopBackup() throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let ready = dir.file("ready")
        let app = """
            import os, signal, sqlite3, sys, time
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
            db.execute("INSERT INTO items VALUES ('before-stop')")
            db.commit()
            db.close()
            signal.signal(signal.SIGTERM, lambda n, f: sys.exit(0))
            open(sys.argv[1], "w").write("ready")
            while True:
                time.sleep(0.02)
            """
        let runner = try Runner(["python3", "-c", app, ready], env: w.env(["ENTRYPOINT_BACKUP_ON_STOP": "1", "ENTRYPOINT_STOP_DEADLINE": "1"]))
        #expect(eventually { FileManager.default.fileExists(atPath: ready) }, "the app did not start")
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.stderr.contains("stop backup skipped"), "\(r.stderr)")
        #expect(r.stderr.contains("taking a snapshot"), "no stop backup was tried: \(r.stderr)")
    }

    @Test func sigkillDuringAPeriodicUploadLeavesDropboxsFileIntact() throws {
        let w = try World()
        try w.publish(["base"], padding: 9_000_000)
        let dir = TempDir()
        let pidFile = dir.file("app-pid")
        // An upload session in 4 MiB chunks; the fake holds the append for 4 s.
        try w.fake.fault(["route": "files/upload_session/append_v2", "kind": "delay", "seconds": 4, "times": 1])
        let app = """
            import os, sqlite3, sys, time
            open(sys.argv[1], "w").write(str(os.getpid()))
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
            db.execute("INSERT INTO items VALUES ('new')")
            db.commit()
            time.sleep(30)
            """
        let runner = try Runner(["python3", "-c", app, pidFile], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1", "ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]))
        #expect(eventually { Int32(fileText(pidFile)) != nil })
        // The tick at 1 s starts the worker; kill the supervisor while its upload is under way.
        #expect(eventually { !w.fake.requests("files/upload_session/start").isEmpty }, "the periodic upload did not start")
        usleep(500_000)
        kill(runner.pid, SIGKILL)
        let r = runner.wait()
        #expect(r.status == 137)
        if let app = Int32(fileText(pidFile)) { kill(app, SIGKILL) }
        usleep(5_000_000)  // past the fake's delay: a worker that outlived the supervisor would finish now
        // Dropbox's file is the old one or the complete new one, never anything else.
        for file in w.fake.uploaded("/database.db") {
            #expect(DB.integrity(file) == "ok")
            #expect(try DB.items(file) == ["base", "new"])
        }
        let fresh = dir.file("fresh.db")
        let again = try run([], env: w.env(["RAILWAY_DB_PATH": fresh]))
        #expect(again.status == 0, "\(again.output)")
        #expect(DB.integrity(fresh) == "ok")
        let rows = try DB.items(fresh)
        #expect(rows == ["base"] || rows == ["base", "new"], "\(rows)")
        // The worker died with the supervisor (PR_SET_PDEATHSIG), so the session was never finished.
        #expect(w.fake.requests("files/upload_session/finish").isEmpty, "\(r.stderr)")
    }
}
