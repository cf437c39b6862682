// The signs of a checkpoint that waits for the backup's reader: another process holding both the
// writer lock (byte 120) and the checkpoint lock (byte 121) of the WAL index, as /proc/locks shows
// them; a commit (writer only), a PASSIVE checkpoint (checkpoint only), our own locks, a waiting
// request and another file are not.
import CSQLite
import Glibc
import Testing

@testable import EntrypointCore

@Suite struct CheckpointWatchTests {
    let ours = 100
    func line(_ pid: Int, _ start: String, _ end: String, inode: UInt64 = 777, type: String = "WRITE", waiting: Bool = false) -> String {
        "1: \(waiting ? "-> " : "")POSIX  ADVISORY  \(type) \(pid) 00:2d:\(inode) \(start) \(end)"
    }

    @Test func bothLocksHeldByAnotherProcessAreABlockingCheckpoint() {
        let text = [line(200, "120", "120"), line(200, "121", "121"), line(ours, "123", "123", type: "READ")].joined(separator: "\n")
        #expect(CheckpointWatch.blockingCheckpoint(in: text, inode: 777, ourPID: ours))
        // One lock over both bytes counts too.
        #expect(CheckpointWatch.blockingCheckpoint(in: line(200, "120", "121"), inode: 777, ourPID: ours))
    }

    @Test func aCommitOrAPassiveCheckpointAloneIsNot() {
        #expect(!CheckpointWatch.blockingCheckpoint(in: line(200, "120", "120"), inode: 777, ourPID: ours))
        #expect(!CheckpointWatch.blockingCheckpoint(in: line(200, "121", "121"), inode: 777, ourPID: ours))
    }

    @Test func ourOwnLocksAnotherFileAReadLockOrAWaitingRequestAreNot() {
        #expect(
            !CheckpointWatch.blockingCheckpoint(in: [line(ours, "120", "120"), line(ours, "121", "121")].joined(separator: "\n"), inode: 777, ourPID: ours))
        #expect(
            !CheckpointWatch.blockingCheckpoint(
                in: [line(200, "120", "120", inode: 5), line(200, "121", "121", inode: 5)].joined(separator: "\n"), inode: 777, ourPID: ours))
        #expect(
            !CheckpointWatch.blockingCheckpoint(
                in: [line(200, "120", "120"), line(200, "121", "121", type: "READ")].joined(separator: "\n"), inode: 777, ourPID: ours))
        #expect(
            !CheckpointWatch.blockingCheckpoint(
                in: [line(200, "120", "120"), line(200, "121", "121", waiting: true)].joined(separator: "\n"), inode: 777, ourPID: ours))
    }

    /// The real thing: Python's sqlite3 holding SQLite's WAL writer lock and running a TRUNCATE
    /// checkpoint that waits for an old reader shows in /proc/locks as both locks held.
    @Test func aRealTruncateCheckpointWaitingForAReaderIsSeen() throws {
        let dir = "/tmp/ckpt-watch-\(getpid())"
        mkdir(dir, 0o700)
        defer { _ = system("rm -rf '\(dir)'") }
        let db = dir + "/a.db"
        let reader = try SQLite.Connection(db, flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        _ = try reader.query("PRAGMA journal_mode=WAL")
        _ = try reader.query("CREATE TABLE t(x)")
        _ = try reader.query("INSERT INTO t VALUES (1)")
        _ = try reader.query("BEGIN")
        _ = try reader.query("SELECT count(*) FROM t")  // a read transaction on this state
        let watch = CheckpointWatch(database: db, patience: 0.2)
        #expect(!watch.appWaits())
        // Another process: one commit (the reader is now on an old state), then a TRUNCATE
        // checkpoint with a 3 s busy timeout, which waits for the reader.
        let script =
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1], isolation_level=None, timeout=3); c.execute('INSERT INTO t VALUES (2)'); print(c.execute('PRAGMA wal_checkpoint(TRUNCATE)').fetchone())"
        var pid: pid_t = 0
        let args = ["python3", "-c", script, db]
        var argv = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        #expect(posix_spawnp(&pid, "python3", nil, nil, &argv, environ) == 0)
        var seen = false
        let end = Clock.now() + 2.5
        while Clock.now() < end && !seen {
            seen = watch.appWaits()
            usleep(20_000)
        }
        #expect(seen, "the waiting checkpoint was seen within 2.5 s")
        _ = try reader.query("COMMIT")
        var status: Int32 = 0
        _ = waitpid(pid, &status, 0)
    }
}
