// The stop reaches the app behind a shell, a slow or stubborn app is bounded by its grace, and
// everything it committed before it was gone is in Dropbox's copy.
import Foundation
import TestSupport
import Testing

@Suite struct StopSequenceTests {
    let onStop = ["ENTRYPOINT_BACKUP_ON_STOP": "1"]

    /// A Python app that writes its pid to argv[1], commits `first` at start and on SIGTERM runs `onTerm`.
    func app(onTerm: String, first: String = "started") -> String {
        """
        import os, signal, sqlite3, sys, time
        def commit(row):
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"], timeout=30)
            db.execute("INSERT INTO items VALUES (?)", (row,))
            db.commit()
            db.close()
        def stop(n, f):
        \(onTerm.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        signal.signal(signal.SIGTERM, stop)
        commit("\(first)")
        open(sys.argv[1], "w").write(str(os.getpid()))
        end = time.time() + 30  # bounded, so a supervisor that never stops it does not hang the suite
        while time.time() < end:
            time.sleep(0.02)
        """
    }

    func pid(in file: String) -> Int32? { Int32(fileText(file).trimmingCharacters(in: .whitespacesAndNewlines)) }

    @Test func aShellWrapperDoesNotSwallowTheStop() throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let ready = dir.file("ready")
        let script = dir.file("app.py")
        try app(onTerm: "time.sleep(0.5)\ncommit(\"shutdown\")\nsys.exit(0)").write(toFile: script, atomically: true, encoding: .utf8)
        // dash keeps the last command as a child (no exec), like `alembic upgrade head && uvicorn ...`.
        let runner = try Runner(["sh", "-c", "python3 \"$0\" \"$1\"; echo done", script, ready], env: w.env(onStop))
        #expect(eventually { pid(in: ready) != nil }, "the app did not start")
        let appPid = pid(in: ready) ?? 0
        kill(runner.pid, SIGTERM)
        let r = runner.wait(timeout: 40)
        defer { if procState(appPid) != nil { kill(appPid, SIGKILL) } }
        #expect(procState(appPid) == nil, "the app behind the shell got the stop and was waited for")
        let uploaded = try #require(w.fake.uploaded("/database.db").last, "\(r.stderr)")
        #expect(try DB.items(uploaded) == ["base", "started", "shutdown"], "\(r.stderr)")
        #expect(r.stderr.contains("stop backup done"), "\(r.stderr)")
    }

    @Test func anAppThatShutsDownSlowlyKeepsBeingBackedUpAndIsWaitedFor() throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let ready = dir.file("ready")
        // On SIGTERM it commits a row every 0.1 s for 2.5 s, then exits: within its grace (5 s).
        let slow = "for i in range(25):\n    commit(\"shutdown-%d\" % i)\n    time.sleep(0.1)\nsys.exit(0)"
        let runner = try Runner(
            ["python3", "-c", app(onTerm: slow), ready],
            env: w.env(onStop.merging(["ENTRYPOINT_BACKUP_INTERVAL": "1", "ENTRYPOINT_STOP_DEADLINE": "10"]) { $1 }))
        #expect(eventually { pid(in: ready) != nil })
        #expect(eventually { !w.fake.uploaded("/database.db").isEmpty }, "the first periodic backup")
        kill(runner.pid, SIGTERM)
        let r = runner.wait(timeout: 40)
        #expect(r.status == 0, "\(r.output)")
        let uploads = w.fake.uploaded("/database.db")
        let last = try #require(uploads.last)
        #expect(try DB.items(last) == ["base", "started"] + (0..<25).map { "shutdown-\($0)" }, "\(r.stderr)")
        // Periodic backups went on while it shut down: an upload before the last one holds some of its rows.
        let during = try uploads.dropLast().filter { try DB.items($0).contains("shutdown-0") }
        #expect(!during.isEmpty, "no periodic backup during the shutdown: \(r.stderr)")
        #expect(!r.stderr.contains("did not exit within"), "\(r.stderr)")
    }

    @Test(arguments: ["slow", "deaf"])
    func anAppThatOutlivesItsGraceIsKilledAndItsRowsStillReachDropbox(kind: String) throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let ready = dir.file("ready")
        // slow: commits a row every 0.1 s for 30 s after SIGTERM; deaf: ignores SIGTERM.
        let onTerm = kind == "slow" ? "for i in range(300):\n    commit(\"shutdown-%d\" % i)\n    time.sleep(0.1)\nsys.exit(0)" : "pass"
        let started = Date()
        let runner = try Runner(
            ["python3", "-c", app(onTerm: onTerm), ready], env: w.env(onStop.merging(["ENTRYPOINT_STOP_DEADLINE": "8", "ENTRYPOINT_STOP_GRACE": "2"]) { $1 }))
        #expect(eventually { pid(in: ready) != nil })
        let appPid = pid(in: ready) ?? 0
        let stopAt = Date()
        kill(runner.pid, SIGTERM)
        let r = runner.wait(timeout: 40)
        defer { if procState(appPid) != nil { kill(appPid, SIGKILL) } }
        #expect(r.status == 137, "the app's status: killed: \(r.output)")
        #expect(r.stderr.contains("did not exit within its 2s grace (ENTRYPOINT_STOP_GRACE)"), "\(r.stderr)")
        #expect(r.stderr.contains("stop backup done"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(stopAt) < 8 + 4, "within the stop deadline (generous): \(Date().timeIntervalSince(started))s")
        let uploaded = try #require(w.fake.uploaded("/database.db").last, "\(r.stderr)")
        let rows = try DB.items(uploaded)
        #expect(rows.starts(with: ["base", "started"]), "\(rows)")
        // Every row the app committed before it was killed is in Dropbox's copy.
        let local = try DB.items(w.db)
        #expect(rows == local, "Dropbox \(rows.count) rows, volume \(local.count)")
        if kind == "slow" { #expect(rows.count > 3, "\(rows)") }
    }

    @Test func anInheritedIgnoredSIGCHLDDoesNotHangTheSupervisor() throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let ready = dir.file("ready")
        // Started the way a careless parent would: SIGCHLD ignored survives execve.
        let launcher = "import os, signal, sys; signal.signal(signal.SIGCHLD, signal.SIG_IGN); os.execv(sys.argv[1], sys.argv[1:])"
        let appScript = "import os, sys, time; open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(30)"
        var environment = w.env(onStop)
        environment["PATH"] = "/usr/local/bin:/usr/bin:/bin"
        let child = try Spawned("/usr/bin/python3", ["-c", launcher, Paths.binary, "python3", "-c", appScript, ready], env: environment)
        #expect(eventually { pid(in: ready) != nil })
        let started = Date()
        kill(child.pid, SIGTERM)
        let r = child.finish(timeout: 20)
        let stderr = String(decoding: r.stderr, as: UTF8.self)
        #expect(!r.timedOut, "SIGTERM did not end the supervisor: \(stderr)")
        #expect(r.status == 143, "\(stderr)")
        #expect(stderr.contains("was killed by SIGTERM"), "the supervisor saw the app exit: \(stderr)")
        #expect(Date().timeIntervalSince(started) < 15)
    }
}
