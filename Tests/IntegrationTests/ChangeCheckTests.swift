// "did the database change?" from SQLite's own evidence, not file timestamps. On a
// file system with 1-second timestamps a same-size commit in the same second as the clean state
// leaves stat() exactly as it was; the stop backup must upload it all the same.
import Foundation
import TestSupport
import Testing

@Suite struct ChangeCheckTests {
    /// Skipped only where loop devices cannot be used (not root, no /dev/loop-control).
    @Test(.enabled(if: Mount.canMountLoop, "skipped: needs root, mount rights and a loop device for an ext4 image with 1-second timestamps"))
    func aSameSizeCommitInTheSameSecondAsTheCleanStateIsBackedUp() throws {
        let volume = try Mount("ext4", megabytes: 64)  // room for a snapshot and the 16 MiB reserve
        // The race the test needs (the app's commit in the same second as the restore's file) is
        // checked by the app itself; a run that missed it is repeated, at most 8 times.
        var conclusive = false
        for attempt in 1...8 where !conclusive {
            let w = try World()
            try w.publish(["base"])
            let db = volume.path + "/run-\(attempt)/production.db"
            let report = volume.path + "/report-\(attempt)"
            let app = """
                import os, sqlite3, sys, time
                db = os.environ["RAILWAY_DB_PATH"]
                before = os.stat(db)
                c = sqlite3.connect(db)
                c.execute("UPDATE items SET name = 'BASE' WHERE name = 'base'")  # same size, rollback journal
                c.commit()
                c.close()
                after = os.stat(db)
                same = (after.st_size, after.st_mtime_ns, after.st_ctime_ns) == (before.st_size, before.st_mtime_ns, before.st_ctime_ns)
                open(sys.argv[1], "w").write("same" if same else "moved")
                """
            let r = try run(["python3", "-c", app, report], env: w.env(["RAILWAY_DB_PATH": db, "ENTRYPOINT_BACKUP_ON_STOP": "1"]))
            #expect(r.status == 0, "\(r.output)")
            guard fileText(report) == "same" else { continue }
            conclusive = true
            // stat() could not tell; SQLite's evidence could: the stop backup uploaded the commit.
            let uploaded = try #require(w.fake.uploaded("/database.db").last, "nothing uploaded: \(r.stderr)")
            #expect(try DB.items(uploaded) == ["BASE"], "\(r.stderr)")
            #expect(r.stderr.contains("stop backup done"), "\(r.stderr)")
        }
        #expect(conclusive, "the app's commit never fell in the same second as the restore in 8 runs")
    }

    @Test func anUnchangedDatabaseReadsNoDataAndStartsNoBackup() throws {
        let w = try World()
        try w.publish(["base"])
        // Reads (the app's own SELECTs) are no change.
        let app =
            "import os, sqlite3, time; c = sqlite3.connect(os.environ['RAILWAY_DB_PATH']); [c.execute('SELECT * FROM items').fetchall() for _ in range(5)]; time.sleep(2.5)"
        let r = try run(["python3", "-c", app], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1", "ENTRYPOINT_BACKUP_ON_STOP": "1"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(!r.stderr.contains("taking a snapshot"), "\(r.stderr)")
        #expect(w.fake.requests("files/upload").isEmpty)
        #expect(r.stderr.contains("did not change since the last restore or upload"), "\(r.stderr)")
    }

    /// The stop backup failed (network down at the stop), the container restarts: the restore keeps
    /// the local database ("changes not yet in Dropbox"), and the app then writes nothing (a quiet
    /// read-mostly app, or an operator stopping it for the failback). Before: the supervisor took
    /// that kept database as its clean state, so neither a periodic nor the stop backup ran ("did not
    /// change since the last restore or upload; nothing to upload") and the emergency's writes never
    /// reached Dropbox: the main server's pull in the failback did not have them.
    @Test func keptLocalChangesAreBackedUpEvenWhenTheAppWritesNothingMore() throws {
        let w = try World()
        try w.restoredThenWritten("local-1")
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
        try w.restoredThenWritten("local-1")
        let runner = try Runner(["sleep", "60"], env: w.env(["ENTRYPOINT_BACKUP_INTERVAL": "1s"]))
        let uploadedInTime = eventually(20) { w.fake.uploaded(w.remotePath).count == 1 }
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(uploadedInTime, "no periodic backup of the kept local changes: \(r.stderr)")
        if let last = w.fake.uploaded(w.remotePath).last { #expect(try DB.items(last) == ["base", "local-1"]) }
    }
}
