// A snapshot never blocks the app's writers for long, in either journal mode.
import CSQLite
import Foundation
import Glibc
import TestSupport
import Testing

@testable import EntrypointCore

/// A separate process that commits like an app: Python's sqlite3 in the database's own journal mode,
/// one numbered row per transaction every ~2 ms, until told to stop.
final class AppWriter {
    let process = Process()
    let stopFile: String
    let output = Pipe()
    let errors = Pipe()

    /// `timeout` is the writer's busy timeout (sqlite3.connect(timeout=)), as an app would set it.
    /// `journalMode`, when given, is set on the writer's connection (PERSIST and TRUNCATE are a
    /// connection's setting, not the file's).
    init(_ db: String, timeout: Double, journalMode: String? = nil) throws {
        stopFile = db + ".stop-writer"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", Self.script, db, String(timeout), stopFile, journalMode ?? ""]
        process.standardOutput = output
        process.standardError = errors
        try process.run()
    }

    static let script = """
        import os, sqlite3, sys, time
        db, timeout, stop = sys.argv[1], float(sys.argv[2]), sys.argv[3]
        c = sqlite3.connect(db, timeout=timeout)   # the journal mode is the database's own...
        if sys.argv[4]: c.execute("PRAGMA journal_mode=" + sys.argv[4])   # ...or the connection's
        n = 0; failures = 0; longest = 0.0
        while not os.path.exists(stop):
            t = time.monotonic()
            try:
                c.execute("INSERT INTO log(n) VALUES (?)", (n + 1,))
                c.commit()
                n += 1
            except sqlite3.OperationalError as e:
                failures += 1
                print(f"commit {n + 1} failed after {time.monotonic() - t:.3f}s: {e}", file=sys.stderr, flush=True)
                c.rollback()
            longest = max(longest, time.monotonic() - t)
            if n == 20: open(stop + ".ready", "w").close()
            time.sleep(0.002)
        print(n, failures, f"{longest:.3f}", flush=True)
        """

    /// Waits until the writer has committed 20 rows.
    func waitUntilCommitting() throws {
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: stopFile + ".ready") {
            try #require(process.isRunning, "the writer died: \(String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self))")
            usleep(10_000)
        }
        try #require(FileManager.default.fileExists(atPath: stopFile + ".ready"), "the writer never committed 20 rows")
    }

    /// Stops the writer: (rows committed, failed commits, longest commit in seconds, its stderr).
    func finish() throws -> (committed: Int, failures: Int, longest: Double, errors: String) {
        try #require(FileManager.default.createFile(atPath: stopFile, contents: nil))
        process.waitUntilExit()
        let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let fields = out.split(separator: " ").map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
        try #require(process.terminationStatus == 0 && fields.count == 3, "writer: \(out) \(err)")
        return (Int(fields[0])!, Int(fields[1])!, Double(fields[2])!, err)
    }
}

@Suite(.serialized) struct SnapshotTests {
    /// A 64 MiB database in `journalMode` with an empty `log` table for the writer.
    static func database(_ dir: TempDir, journalMode: String) throws -> String {
        let db = dir.file("app.db")
        try DB.sql(
            db,
            """
            PRAGMA journal_mode=\(journalMode);
            CREATE TABLE filler(b); CREATE TABLE log(n INTEGER PRIMARY KEY);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 64)
            INSERT INTO filler SELECT randomblob(1048576) FROM c;
            """)
        if journalMode == "WAL" || journalMode == "DELETE" {  // kept in the file; PERSIST and TRUNCATE are the writer's
            #expect(try DB.sql(db, "PRAGMA journal_mode").first == journalMode.lowercased())
        }
        return db
    }

    /// The snapshot is one consistent state: integrity_check ok, and its rows are exactly the
    /// writer's first k commits (a gap-free prefix), k at least the 20 made before it started.
    static func expectConsistentPrefix(_ copy: String, committed: Int) throws {
        #expect(try DB.sql(copy, "PRAGMA integrity_check") == ["ok"])
        let stats = try DB.sql(copy, "SELECT count(*) || ' ' || coalesce(min(n), 0) || ' ' || coalesce(max(n), 0) FROM log")
        let parts = try #require(stats.first).split(separator: " ").compactMap { Int($0) }
        try #require(parts.count == 3)
        let (count, low, high) = (parts[0], parts[1], parts[2])
        #expect(count >= 20, "the snapshot holds the commits made before it started")
        #expect(low == 1 && high == count, "a gap-free prefix 1...\(count), got \(low)...\(high)")
        #expect(high <= committed)
        #expect(try DB.sql(copy, "SELECT count(*) FROM filler") == ["64"])
    }

    /// The app commits continuously throughout the backup of a 64 MiB database, with a busy timeout of
    /// 1 s (an app's: Python's default is 5 s). No commit may fail. With the one-step backup
    /// (sqlite3_backup_step(-1), before this fix) the writer waited for the whole copy plus the
    /// fsync of the 64 MiB destination; see testing notes in docs/design.md, "The backup", step 3.
    @Test(arguments: ["DELETE", "WAL", "PERSIST", "TRUNCATE"])
    func appKeepsCommittingThroughoutTheSnapshot(journalMode: String) throws {
        let dir = TempDir()
        let db = try Self.database(dir, journalMode: journalMode)
        let copy = dir.file("snapshot.db")
        try #require(FileManager.default.createFile(atPath: copy, contents: nil))
        let writer = try AppWriter(db, timeout: Self.writerTimeout, journalMode: journalMode)
        try writer.waitUntilCommitting()
        if journalMode == "PERSIST" || journalMode == "TRUNCATE" {
            #expect(FileManager.default.fileExists(atPath: db + "-journal"), "the writer's journal stays between its commits")
        }
        let started = Date()
        let report = try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 120)
        let took = Date().timeIntervalSince(started)
        usleep(300_000)  // the writer goes on after the snapshot
        let result = try writer.finish()
        print(
            "snapshot \(journalMode): \(report), \(Int(took * 1000)) ms; writer: \(result.committed) commits, \(result.failures) failed, longest commit \(result.longest) s"
        )
        #expect(result.failures == 0, "the app's commits failed during the snapshot: \(result.errors)")
        try Self.expectConsistentPrefix(copy, committed: result.committed)
        #expect(
            result.committed > (try DB.sql(copy, "SELECT count(*) FROM log").first.flatMap { Int($0) } ?? 0), "the writer committed after the snapshot's state")
        if journalMode == "WAL" {
            #expect(report.method == .walReadTransaction)
        } else {
            #expect(report.method != .walReadTransaction)
        }
    }

    static let writerTimeout = 1.0

    /// One commit, made while the stepped copy of a 64 MiB rollback-journal database is under way, by
    /// an impatient app (busy timeout 100 ms): it waits for at most the one step in progress (a few
    /// ms), so it succeeds. The one-step snapshot before this fix held the read lock for the whole
    /// copy and the destination's fsync (0.2-0.3 s here), and this commit failed with "database is locked".
    @Test func aCommitDuringTheSteppedCopyWaitsForOneStepOnly() throws {
        let dir = TempDir()
        let db = try Self.database(dir, journalMode: "DELETE")
        let copy = dir.file("snapshot.db")
        try #require(FileManager.default.createFile(atPath: copy, contents: nil))
        let trigger = dir.file("commit-now")
        let probe = Process()
        let output = Pipe()
        probe.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        probe.arguments = [
            "python3", "-c",
            """
            import os, sqlite3, sys, time
            db, trigger = sys.argv[1], sys.argv[2]
            c = sqlite3.connect(db, timeout=0.1)
            c.execute("SELECT count(*) FROM log").fetchone()
            open(trigger + ".ready", "w").close()
            while not os.path.exists(trigger): time.sleep(0.001)
            t = time.monotonic()
            try:
                c.execute("INSERT INTO log(n) VALUES (1)"); c.commit()
                print(f"committed {time.monotonic() - t:.3f}", flush=True)
            except sqlite3.OperationalError as e:
                print(f"failed {time.monotonic() - t:.3f} {e}", flush=True)
            """, db, trigger,
        ]
        probe.standardOutput = output
        try probe.run()
        for _ in 0..<1000 where !FileManager.default.fileExists(atPath: trigger + ".ready") { usleep(5_000) }
        try #require(FileManager.default.fileExists(atPath: trigger + ".ready"))

        let box = ReportBox()
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            box.result = Result { () throws -> SQLite.SnapshotReport in try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 120) }
            finished.signal()
        }
        thread.start()
        usleep(20_000)  // the copy of 64 MiB is under way
        try #require(FileManager.default.createFile(atPath: trigger, contents: nil))
        probe.waitUntilExit()
        finished.wait()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        print("probe: \(said)", box.result.map { "\($0)" } ?? "")
        #expect(said.hasPrefix("committed"), "the app's commit failed during the snapshot: \(said)")
        let report = try #require(try box.result?.get())
        #expect(report.method == .steps, "one commit restarts the stepped copy once at most")
        #expect(try DB.sql(copy, "PRAGMA integrity_check") == ["ok"])
        let rows = try DB.sql(copy, "SELECT count(*) FROM log")
        #expect(rows == ["0"] || rows == ["1"])
    }

    /// Nobody writes: the stepped copy completes without a restart and without the locked copy.
    @Test func aQuietDatabaseIsCopiedInSteps() throws {
        let dir = TempDir()
        let db = try Self.database(dir, journalMode: "DELETE")
        try DB.sql(db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 25) INSERT INTO log SELECT i FROM c;")
        let copy = dir.file("snapshot.db")
        try #require(FileManager.default.createFile(atPath: copy, contents: nil))
        let report = try SQLite.snapshot(db, to: copy)
        print("quiet snapshot: \(report)")
        #expect(report.method == .steps)
        #expect(report.restarts == 0)
        try Self.expectConsistentPrefix(copy, committed: 25)
        #expect(try DataHash.ofFile(copy).data == (try DataHash.ofFile(db)).data)
        #expect(FileManager.default.contents(atPath: copy) == FileManager.default.contents(atPath: db), "a rollback-journal database is copied byte for byte")
        #expect(!FileManager.default.fileExists(atPath: copy + "-journal"), "the destination has no journal")
    }

    /// A commit by another connection between two steps of the byte copy is seen (the header's change
    /// counter moved) and the copy starts over: the result is the state after that commit, byte for
    /// byte, never a mix of chunks from before and after it.
    @Test func aCommitBetweenTwoStepsRestartsTheCopy() throws {
        let dir = TempDir()
        let db = try Self.database(dir, journalMode: "DELETE")
        try DB.sql(db, "INSERT INTO log VALUES (1);")
        let copy = dir.file("snapshot.db")
        try #require(FileManager.default.createFile(atPath: copy, contents: nil))
        // The stop check runs before every step: the 20th call (a dozen steps in) commits, from a
        // connection of its own, a row and a rewrite of the first MiB blob, which the copy already holds.
        let calls = Counter()
        let report = try SQLite.snapshot(
            db, to: copy,
            stop: {
                if calls.next() == 20 {
                    _ = try? DB.sql(db, "INSERT INTO log VALUES (2); UPDATE filler SET b = randomblob(1048576) WHERE rowid = 1;")
                }
                return 0
            })
        #expect(calls.value > 20, "the commit happened during the copy")
        #expect(report.method == .steps)
        #expect(report.restarts == 1, "\(report)")
        #expect(try DB.sql(copy, "PRAGMA integrity_check") == ["ok"])
        #expect(try DB.sql(copy, "SELECT group_concat(n) FROM log") == ["1,2"])
        #expect(FileManager.default.contents(atPath: copy) == FileManager.default.contents(atPath: db), "the state after the commit, byte for byte")
    }

    /// A stop signal ends the snapshot at the next step with the signal's error.
    @Test(arguments: ["DELETE", "WAL"])
    func aStopSignalEndsTheStepsPromptly(journalMode: String) throws {
        let dir = TempDir()
        let db = try Self.database(dir, journalMode: journalMode)
        let copy = dir.file("snapshot.db")
        try #require(FileManager.default.createFile(atPath: copy, contents: nil))
        let checks = Counter()
        let started = Date()
        #expect {
            try SQLite.snapshot(db, to: copy) { checks.next() > 5 ? SIGTERM : 0 }
        } throws: { ($0 as? EntrypointError)?.signal == SIGTERM }
        #expect(Date().timeIntervalSince(started) < 10)
        #expect(checks.value < 12, "it stopped within a step of the signal, not after the copy")
        try Self.expectUnlocked(db)
    }

    /// The locked copy checks the stop signal between chunks and releases the read lock.
    @Test func aStopSignalEndsTheLockedCopyAndReleasesTheLock() throws {
        let dir = TempDir()
        let db = try Self.database(dir, journalMode: "DELETE")
        let copy = dir.file("snapshot.db")
        try #require(FileManager.default.createFile(atPath: copy, contents: nil))
        let from = try SQLite.Connection(db, flags: SQLITE_OPEN_READWRITE)
        let checks = Counter()
        let run = SnapshotRun(from: from, source: db, destination: copy, deadline: .infinity) { checks.next() > 3 ? SIGINT : 0 }
        #expect {
            _ = try run.lockedCopy()
        } throws: { ($0 as? EntrypointError)?.signal == SIGINT }
        try Self.expectUnlocked(db)
        // Without a signal it copies the whole file, byte for byte.
        let full = SnapshotRun(from: from, source: db, destination: copy, deadline: .infinity) { 0 }
        #expect(try full.lockedCopy() != nil)
        #expect(FileManager.default.contents(atPath: copy) == FileManager.default.contents(atPath: db))
        try Self.expectUnlocked(db)
    }

    /// A writer that never lets go: the snapshot gives up at the deadline, exit 74, one line.
    @Test func aDatabaseLockedUntilTheDeadlineFails() throws {
        let dir = TempDir()
        let db = dir.file("app.db")
        try DB.sql(db, "CREATE TABLE log(n INTEGER PRIMARY KEY); INSERT INTO log VALUES (1);")
        let copy = dir.file("snapshot.db")
        try #require(FileManager.default.createFile(atPath: copy, contents: nil))
        try DB.sql(db, "BEGIN EXCLUSIVE; INSERT INTO log VALUES (2);") { _ in
            let started = Date()
            #expect {
                try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 0.5)
            } throws: { error in
                guard let e = error as? EntrypointError else { return false }
                return e.code == .localIO && e.message.contains("ENTRYPOINT_DEADLINE") && e.message.contains(db)
            }
            #expect(Date().timeIntervalSince(started) < 10)
        }
    }

    /// Another connection can take a write lock at once: the snapshot left no lock behind.
    static func expectUnlocked(_ db: String) throws {
        var handle: OpaquePointer?
        try #require(sqlite3_open(db, &handle) == SQLITE_OK)
        defer { sqlite3_close(handle) }
        #expect(
            sqlite3_exec(handle, "BEGIN EXCLUSIVE; INSERT INTO log VALUES (NULL); ROLLBACK;", nil, nil, nil) == SQLITE_OK,
            "\(String(cString: sqlite3_errmsg(handle)))")
    }
}

/// The snapshot's outcome, handed from its thread to the test.
final class ReportBox: @unchecked Sendable {
    var result: Result<SQLite.SnapshotReport, any Error>?
}

/// A call counter for the stop closures.
final class Counter: @unchecked Sendable {
    private(set) var value = 0
    func next() -> Int {
        value += 1
        return value
    }
}
