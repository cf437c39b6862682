// The supervisor passes on every asynchronous signal to the app, as tini does: the listed stop and
// user signals, any other one (SIGALRM, SIGPWR, a real-time signal...) without dying of it, and
// while a backup worker is uploading. The app decides what a signal means.
import CShims
import Foundation
import TestSupport
import Testing

@Suite struct SignalForwardingTests {
    /// A world whose remote database is published.
    func world() throws -> World {
        let w = try World()
        try w.publish(["base"])
        return w
    }

    let onStop = ["ENTRYPOINT_BACKUP_ON_STOP": "1"]

    @Test func everyListedSignalReachesTheChild() throws {
        let w = try world()
        let dir = TempDir()
        let report = dir.file("signals")
        let ready = dir.file("ready")
        let app = """
            import signal, sys, time
            names = ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGTERM"]
            def handler(n, f):
                with open(sys.argv[1], "a") as out:
                    out.write(signal.Signals(n).name + "\\n")
                if n == signal.SIGTERM:
                    sys.exit(0)
            for name in names:
                signal.signal(getattr(signal, name), handler)
            open(sys.argv[2], "w").write("ready")
            while True:
                time.sleep(0.02)
            """
        let runner = try Runner(["python3", "-c", app, report, ready], env: w.env(onStop))
        #expect(eventually { FileManager.default.fileExists(atPath: ready) }, "the app did not start")
        for (sig, name) in [(SIGHUP, "SIGHUP"), (SIGINT, "SIGINT"), (SIGQUIT, "SIGQUIT"), (SIGUSR1, "SIGUSR1"), (SIGUSR2, "SIGUSR2"), (SIGWINCH, "SIGWINCH")] {
            kill(runner.pid, sig)
            #expect(eventually { fileText(report).contains(name) }, "\(name) did not reach the child")
        }
        // SIGINT did not stop the supervisor (the child decides what a signal means).
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(r.status == 0, "\(r.output)")
        #expect(fileText(report).split(separator: "\n") == ["SIGHUP", "SIGINT", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGTERM"])
        #expect(r.stderr.contains("supervising python3 as pid"), "\(r.stderr)")
        // SIGINT is a stop signal too: the stop deadline counts from the first of them.
        #expect(r.stderr.contains("SIGINT forwarded to python3"), "\(r.stderr)")
        // Nothing changed: no stop backup upload.
        #expect(r.stderr.contains("did not change since the last restore or upload"), "\(r.stderr)")
        #expect(w.fake.requests("files/upload").isEmpty)
    }

    /// A supervisor forwards every asynchronous signal, as tini does, not only a list of seven.
    /// Before: SIGALRM, SIGPWR, SIGUSR-like SIGRTMIN+n, SIGVTALRM... took their default action on
    /// the supervisor: it died (exit 142 for SIGALRM) without a stop backup, its worker with it,
    /// and the app ran on as an orphan. `docker kill -s`, a STOPSIGNAL or an operator's `kill` can
    /// send them, and the kernel delivers them to PID 1 from the host.
    @Test func everyAsynchronousSignalIsForwarded() throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let report = dir.file("signals")
        let ready = dir.file("ready")
        let app = """
            import os, signal, sys, time
            names = ["SIGALRM", "SIGPWR", "SIGVTALRM", "SIGPROF", "SIGXCPU", "SIGURG"]
            def handler(n, f):
                with open(sys.argv[1], "a") as out:
                    out.write((signal.Signals(n).name if n < signal.SIGRTMIN else "SIGRTMIN+%d" % (n - signal.SIGRTMIN)) + "\\n")
                if n == signal.SIGTERM:
                    sys.exit(3)
            for name in names + ["SIGTERM"]:
                signal.signal(getattr(signal, name), handler)
            signal.signal(signal.SIGRTMIN + 3, handler)
            open(sys.argv[2], "w").write(str(os.getpid()))
            while True:
                time.sleep(0.02)
            """
        let runner = try Runner(["python3", "-c", app, report, ready], env: w.env(["ENTRYPOINT_BACKUP_ON_STOP": "1"]))
        // The app, so that a dead supervisor's orphan does not keep the output pipes open.
        func appPid() -> Int32? { Int32(fileText(ready)) }
        #expect(eventually { appPid() != nil }, "the app did not start")
        let rtmin = __libc_current_sigrtmin()
        for (sig, name) in [
            (SIGALRM, "SIGALRM"), (SIGPWR, "SIGPWR"), (SIGVTALRM, "SIGVTALRM"), (SIGPROF, "SIGPROF"), (SIGXCPU, "SIGXCPU"), (SIGURG, "SIGURG"),
            (rtmin + 3, "SIGRTMIN+3"),
        ] {
            kill(runner.pid, sig)
            #expect(eventually(5) { fileText(report).contains(name) }, "\(name) did not reach the app")
            let alive = procState(runner.pid).map { $0.state != "Z" } ?? false
            #expect(alive, "\(name) ended the supervisor")
            if !alive { break }
        }
        if procState(runner.pid).map({ $0.state == "Z" }) ?? true, let pid = appPid() { kill(pid, SIGKILL) }
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(r.status == 3, "\(r.output)")
        #expect(r.stderr.contains("did not change since the last restore or upload"), "no stop sequence: \(r.stderr)")
    }

    @Test func signalsAreForwardedWhileABackupRuns() throws {
        let w = try world()
        let dir = TempDir()
        let report = dir.file("report")
        let ready = dir.file("ready")
        // The periodic upload is held by the fake for 6 s.
        try w.fake.fault(["route": "files/upload", "kind": "delay", "seconds": 6, "times": 1])
        let app = """
            import os, signal, sqlite3, sys, time
            signal.signal(signal.SIGUSR1, lambda n, f: open(sys.argv[1], "a").write("USR1\\n"))
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
            db.execute("INSERT INTO items VALUES ('changed')")
            db.commit()
            open(sys.argv[2], "w").write(str(os.getpid()))
            time.sleep(12)
            """
        let runner = try Runner(["python3", "-c", app, report, ready], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1"]))
        #expect(eventually { Int32(fileText(ready)) != nil })
        let appPid = Int32(fileText(ready)) ?? 0
        func otherChildren() -> [Int32] {
            fileText("/proc/\(runner.pid)/task/\(runner.pid)/children").split(separator: " ").compactMap { Int32($0) }.filter { $0 != appPid }
        }
        // Wait for the backup worker, then signal while it is uploading.
        #expect(eventually { !otherChildren().isEmpty }, "no backup worker started")
        usleep(500_000)
        let worker = otherChildren()
        kill(runner.pid, SIGUSR1)
        #expect(eventually(3) { fileText(report).contains("USR1") }, "SIGUSR1 did not reach the app during the backup")
        #expect(!worker.isEmpty && worker.allSatisfy { procState($0) != nil }, "the backup was still running when the signal arrived")
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(r.status == 143, "\(r.output)")
    }
}
