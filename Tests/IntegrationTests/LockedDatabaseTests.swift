// An app (or another process) that keeps the database locked: a backup waits for the lock a bounded
// time (ENTRYPOINT_LOCK_TIMEOUT for one wait, the stop deadline for the stop backup), says so in one
// line, and the app runs on undisturbed.
import Foundation
import TestSupport
import Testing

@Suite struct LockedDatabaseTests {
    let onStop = ["ENTRYPOINT_BACKUP_ON_STOP": "1"]

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

    @Test func aDatabaseLockedThroughTheStopEndsTheStopBackupAtItsDeadline() throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let holder = dir.file("holder")
        // The app commits, then a process outside the app (the app's own processes are killed at the
        // end of its grace, before the stop backup) keeps the database locked (rollback journal,
        // BEGIN EXCLUSIVE): the stop backup's snapshot waits for the lock and would never end.
        let locker =
            "import os, sqlite3, sys, time; db = sqlite3.connect(sys.argv[2], isolation_level=None); db.execute('BEGIN EXCLUSIVE'); open(sys.argv[1], 'w').write(str(os.getpid())); time.sleep(20)"
        let committed = dir.file("committed")
        let app = """
            import os, sqlite3, sys, time
            db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
            db.execute("INSERT INTO items VALUES ('changed')")
            db.commit()
            db.close()
            open(sys.argv[2], "w").write("1")
            while not os.path.exists(sys.argv[1]) or not open(sys.argv[1]).read():
                time.sleep(0.02)
            """
        let started = Date()
        let runner = try Runner(["python3", "-c", app, holder, committed], env: w.env(onStop.merging(["ENTRYPOINT_STOP_DEADLINE": "2"]) { $1 }))
        #expect(eventually { fileText(committed) == "1" })
        let lockerProcess = try Spawned("/usr/bin/python3", ["-c", locker, holder, w.db], env: [:], capture: false)
        let r = runner.wait()
        kill(lockerProcess.pid, SIGKILL)
        _ = lockerProcess.finish(timeout: 5)
        #expect(r.status == 0, "the app's status: \(r.output)")
        // The worker's snapshot gives up at its own deadline (the seconds left of the stop deadline).
        let gaveUp = r.stderr.split(separator: "\n").contains {
            $0.contains("kept it locked until the ") && $0.contains("s stop deadline (what was left of ENTRYPOINT_STOP_DEADLINE): ")
        }
        #expect(gaveUp, "\(r.stderr)")
        #expect(r.stderr.contains("stop backup failed (exit 74"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 12, "bounded by the stop deadline, not the 20 s lock")
        #expect(w.fake.uploaded("/database.db").isEmpty)
    }
}
