// Outside review: the built binary against the fake Dropbox, in the orders and faults an operator,
// the platform or a hostile network produce. Each test is a defect that was found this way.
import CShims
import Foundation
import Testing
import TestSupport

@Suite struct OutsideTests {
    func record(_ w: World) throws -> [String: Any] {
        let data = try #require(FileManager.default.contents(atPath: w.db + ".entrypoint.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Whether `parent` has a child process called `name` (the supervised app has started).
    func childNamed(_ name: String, of parent: Int32) -> Bool {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
        return pids.contains { procState($0)?.ppid == parent && fileText("/proc/\($0)/comm").hasPrefix(name) }
    }

    /// A restored volume whose app then wrote one row.
    func restoredAndWritten(_ w: World) throws {
        try w.publish(["base"])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        try DB.sql(w.db, "INSERT INTO items VALUES ('local-1')")
    }

    /// files/upload stored the file, but its 200 answer arrived cut short (a truncated JSON body):
    /// the upload happened. Before: exit 65 and a stale record, so the next --backup refused with
    /// exit 76 ("the main server may have uploaded since") and --auto uploaded every later backup
    /// beside Dropbox's file as a failback copy, although only this volume had written.
    @Test func aTruncatedUploadAnswerIsCheckedWithDropbox() throws {
        let w = try World()
        try restoredAndWritten(w)
        try w.fake.fault(["route": "files/upload", "kind": "truncate", "bytes": 20])
        let first = try run(["--backup"], env: w.env())
        #expect(first.status == 0, "\(first.output)")
        let stored = w.fake.uploaded(w.remotePath)
        #expect(stored.count == 1)
        #expect(try record(w)["event"] as? String == "uploaded", "\(first.output)")

        try DB.sql(w.db, "INSERT INTO items VALUES ('local-2')")
        let second = try run(["--backup"], env: w.env())
        #expect(second.status == 0, "a later --backup of this volume's own data refused: \(second.output)")
        #expect(w.fake.uploaded(w.remotePath).count == 2)

        try DB.sql(w.db, "INSERT INTO items VALUES ('local-3')")
        try w.fake.fault(["route": "files/upload", "kind": "truncate", "bytes": 0])
        let auto = try run(["--backup", "--auto"], env: w.env())
        #expect(auto.status == 0, "\(auto.output)")
        #expect(!auto.output.contains("failback"), "\(auto.output)")
        try DB.sql(w.db, "INSERT INTO items VALUES ('local-4')")
        let autoAgain = try run(["--backup", "--auto"], env: w.env())
        #expect(autoAgain.status == 0 && !autoAgain.output.contains("failback"), "\(autoAgain.output)")
        #expect(w.fake.uploaded(w.remotePath).count == 4)
    }

    /// An HTML page with 200 on the upload route (a proxy's page): nothing was stored, so it stays
    /// a failure, and the record keeps describing the restore.
    @Test func anHTMLPageOnTheUploadRouteIsNotASuccess() throws {
        let w = try World()
        try restoredAndWritten(w)
        try w.fake.fault(["route": "files/upload", "kind": "html", "times": -1])
        let r = try run(["--backup"], env: w.env())
        #expect(r.status == 65, "\(r.output)")
        #expect(w.fake.uploaded(w.remotePath).isEmpty)
        #expect(try record(w)["event"] as? String == "restored")
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
        let report = dir.file("signals"), ready = dir.file("ready")
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
        for (sig, name) in [(SIGALRM, "SIGALRM"), (SIGPWR, "SIGPWR"), (SIGVTALRM, "SIGVTALRM"), (SIGPROF, "SIGPROF"), (SIGXCPU, "SIGXCPU"), (SIGURG, "SIGURG"), (rtmin + 3, "SIGRTMIN+3")] {
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

    /// `--backup --auto` SIGKILLed once Dropbox has stored its upload, before the answer arrives
    /// (it trickles at 20 bytes/s); the fault is cleared afterwards.
    func backupKilledAfterDropboxCommitted(_ w: World) throws {
        try w.fake.fault(["route": "files/upload", "kind": "throttle", "bytes_per_second": 20, "times": -1])
        let killed = try Runner(["--backup", "--auto"], env: w.env())
        #expect(eventually(20) { w.fake.uploaded(w.remotePath).count == 1 }, "the upload was not stored")
        kill(killed.pid, SIGKILL)
        _ = killed.wait()
        try w.fake.clearFaults()
    }

    /// A backup killed after Dropbox committed its upload but before the answer arrived (the stop
    /// deadline's SIGTERM/SIGKILL of a worker waiting for a slow answer; here the answer trickles
    /// at 20 bytes/s and the worker gets SIGKILL once Dropbox has stored the file). Before: the
    /// record still named the old rev, so this volume's own upload looked like the main server's:
    /// the restart "diverged" and kept a copy, and every later --auto backup went beside Dropbox's
    /// file as a failback copy, so the next restart rolled the app back to the killed upload.
    @Test func aBackupKilledAfterDropboxCommittedIsRecognisedAsOurOwn() throws {
        let w = try World()
        try restoredAndWritten(w)
        try backupKilledAfterDropboxCommitted(w)

        // The app writes on; its next automatic backup updates Dropbox's file, not a side copy.
        try DB.sql(w.db, "INSERT INTO items VALUES ('local-2')")
        let next = try run(["--backup", "--auto"], env: w.env())
        #expect(next.status == 0, "\(next.output)")
        #expect(!next.output.contains("failback"), "\(next.output)")
        #expect(w.fake.uploaded(w.remotePath).count == 2)
        #expect(try record(w)["event"] as? String == "uploaded")

        // The restart keeps the newest data and keeps no copy: nothing diverged.
        let restart = try run([], env: w.env())
        #expect(restart.status == 0, "\(restart.output)")
        #expect(!restart.output.contains("KEPT A COPY"), "\(restart.output)")
        #expect(w.leftovers().filter { $0.contains(".local-") }.isEmpty, "\(w.leftovers())")
        #expect(try DB.items(w.db) == ["base", "local-1", "local-2"])
    }

    /// The same kill, then the restart right away: the local database holds exactly the killed
    /// upload's data, so there is nothing to download and no copy to keep.
    @Test func aRestartAfterAKilledUploadKeepsNoCopy() throws {
        let w = try World()
        try restoredAndWritten(w)
        try backupKilledAfterDropboxCommitted(w)
        let check = try run(["--check"], env: w.env())
        #expect(check.output.contains("no download needed"), "\(check.output)")
        let restart = try run([], env: w.env())
        #expect(restart.status == 0, "\(restart.output)")
        #expect(!restart.output.contains("KEPT A COPY"), "\(restart.output)")
        #expect(w.leftovers().filter { $0.contains(".local-") }.isEmpty, "\(w.leftovers())")
        #expect(try DB.items(w.db) == ["base", "local-1"])
    }

    /// The stop backup failed (network down at the stop), the container restarts: the restore keeps
    /// the local database ("changes not yet in Dropbox"), and the app then writes nothing (a quiet
    /// read-mostly app, or an operator stopping it for the failback). Before: the supervisor took
    /// that kept database as its clean state, so neither a periodic nor the stop backup ran ("did not
    /// change since the last restore or upload; nothing to upload") and the emergency's writes never
    /// reached Dropbox: the main server's pull in the failback did not have them.
    @Test func keptLocalChangesAreBackedUpEvenWhenTheAppWritesNothingMore() throws {
        let w = try World()
        try restoredAndWritten(w)
        // The restart, supervised; the app only waits for its SIGTERM.
        let runner = try Runner(["sleep", "60"], env: w.env(["ENTRYPOINT_BACKUP_ON_STOP": "1"]))
        #expect(eventually { childNamed("sleep", of: runner.pid) }, "the app did not start")
        usleep(500_000)
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(r.stderr.contains("Local database has changes not yet in Dropbox"), "\(r.stderr)")
        #expect(r.stderr.contains("stop backup done"), "\(r.stderr)")
        let uploaded = w.fake.uploaded(w.remotePath)
        #expect(uploaded.count == 1, "\(r.stderr)")
        if let last = uploaded.last { #expect(try DB.items(last) == ["base", "local-1"]) }
    }

    /// The same with periodic backups only: the first tick uploads the kept changes.
    @Test func keptLocalChangesAreUploadedByTheFirstPeriodicBackup() throws {
        let w = try World()
        try restoredAndWritten(w)
        let runner = try Runner(["sleep", "60"], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1s"]))
        let uploadedInTime = eventually(20) { w.fake.uploaded(w.remotePath).count == 1 }
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(uploadedInTime, "no periodic backup of the kept local changes: \(r.stderr)")
        if let last = w.fake.uploaded(w.remotePath).last { #expect(try DB.items(last) == ["base", "local-1"]) }
    }

    /// Dropbox committed the upload, then the check after it (get_metadata) got a garbled answer:
    /// exit 69, and the record was left naming the old rev. The next automatic backup must see that
    /// Dropbox holds this volume's own snapshot, not go beside it.
    @Test func aGarbledCheckAfterTheCommitLeavesTheUploadRecognised() throws {
        let w = try World()
        try restoredAndWritten(w)
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 200, "body": "{\".tag\": \"file\", \"na", "skip": 1, "times": 1])
        let first = try run(["--backup", "--auto"], env: w.env())
        #expect(first.status == 69, "\(first.output)")
        #expect(w.fake.uploaded(w.remotePath).count == 1)
        try w.fake.clearFaults()
        let again = try run(["--backup", "--auto"], env: w.env())
        #expect(again.status == 0, "\(again.output)")
        #expect(again.output.contains("no change since rev"), "\(again.output)")
        #expect(!again.output.contains("failback"), "\(again.output)")
        let restart = try run([], env: w.env())
        #expect(!restart.output.contains("KEPT A COPY"), "\(restart.output)")
        #expect(try DB.items(w.db) == ["base", "local-1"])
    }

    /// An app that holds its database with `PRAGMA locking_mode=EXCLUSIVE` (rollback journal) for
    /// as long as it runs: no other process can read it. The periodic backup's worker used to wait
    /// for the lock until its deadline, --backup's hour, silently (every tick skipped at debug
    /// level). Now a wait of more than 2 s is one line, and one wait is bounded by
    /// ENTRYPOINT_LOCK_TIMEOUT: the backup fails (74), the app keeps running, the next tick tries again.
    @Test func aPeriodicBackupBlockedByAnExclusiveLockSaysSoWithinAnInterval() throws {
        let w = try World()
        try w.publish(["base"])
        let app = """
            import os, sqlite3, time
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"], isolation_level=None)
            db.execute("PRAGMA locking_mode=EXCLUSIVE")
            db.execute("INSERT INTO items VALUES ('held')")
            time.sleep(12)
            """
        let r = try run(["python3", "-c", app], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "2s", "ENTRYPOINT_LOCK_TIMEOUT": "4"]), timeout: 90)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("is locked by another connection"), "no line says that the periodic backup cannot read the locked database: \(r.stderr)")
        // One wait for the lock is bounded by ENTRYPOINT_LOCK_TIMEOUT: the backup fails with one line
        // naming it, the app keeps running, and the next interval tries again.
        #expect(r.stderr.contains("kept the database locked for more than 4s (ENTRYPOINT_LOCK_TIMEOUT"), "\(r.stderr)")
        #expect(r.stderr.contains("periodic backup failed (exit 74"), "\(r.stderr)")
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
}

