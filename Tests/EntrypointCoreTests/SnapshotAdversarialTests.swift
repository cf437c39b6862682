// Adversarial tests of the snapshot (docs/design.md, "The backup", step 3): writers that spill
// uncommitted pages into the file and roll back, die mid-transaction, vacuum, grow, change the page
// size, switch to WAL and back, lock the database exclusively; odd files. The copy must always be one
// committed state of the database (integrity_check ok, one version of every row, byte for byte the
// live file at that state), the snapshot must end (a result or one error line), and nothing may be
// left beside the copy.
import CSQLite
import Foundation
import Glibc
import TestSupport
import Testing

@testable import EntrypointCore

/// A Python sqlite3 connection in its own process (an app's), driven one statement at a time over
/// stdin: `run` sends a statement and waits for its answer. Used to hold a transaction open, or a
/// connection, across the snapshot's steps.
final class AppConnection: @unchecked Sendable {
    let process = Process()
    let input = Pipe()
    let output = Pipe()
    private var buffered = Data()

    init(_ db: String, timeout: Double = 5) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-c",
            """
            import sqlite3, sys
            c = sqlite3.connect(sys.argv[1], timeout=float(sys.argv[2]), isolation_level=None)
            for line in sys.stdin:
                sql = line.rstrip("\\n")
                if sql == "close":
                    c.close(); print("closed", flush=True); continue
                try:
                    rows = c.execute(sql).fetchall()
                    print("ok " + ",".join(str(r[0]) for r in rows), flush=True)
                except Exception as e:
                    print("error " + str(e), flush=True)
            """, db, String(timeout),
        ]
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    /// Runs one statement; returns "ok <first column of each row>" or "error <message>".
    @discardableResult
    func run(_ sql: String) -> String {
        input.fileHandleForWriting.write(Data((sql + "\n").utf8))
        while !buffered.contains(UInt8(ascii: "\n")) {
            let more = output.fileHandleForReading.availableData
            if more.isEmpty { return "error: the app's process ended" }
            buffered.append(more)
        }
        let end = buffered.firstIndex(of: UInt8(ascii: "\n"))!
        let line = String(decoding: buffered[buffered.startIndex..<end], as: UTF8.self)
        buffered = Data(buffered[(end + 1)...])
        return line
    }

    /// SIGKILL: the app dies wherever it is (mid-transaction: a hot journal stays).
    func kill() {
        _ = Glibc.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    func end() {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }
}

/// A stop closure that runs `actions[n]` at its n-th call and never asks to stop. The snapshot calls
/// it before every step, with no lock held on a rollback-journal source: call 1 is the first check of
/// the journal mode, calls 2k and 2k+1 come before step k (so an action at call 2k runs after k-1
/// steps, k-1 MiB, were copied). In the WAL copy it is called before every backup step, inside the
/// read transaction.
final class StepHook: @unchecked Sendable {
    private(set) var calls = 0
    var actions: [Int: () throws -> Void] = [:]
    private(set) var failure: (any Error)?

    func stop() -> Int32 {
        calls += 1
        guard let action = actions[calls] else { return 0 }
        do { try action() } catch {
            failure = error
            return SIGABRT
        }
        return 0
    }
}

@Suite(.serialized) struct SnapshotAdversarialTests {
    /// A database of about 6 MiB (six steps): `rows` rows of 3000 random bytes, one per page, all with
    /// version v = 1, and an empty `log` table.
    static func database(_ dir: TempDir, rows: Int = 1500, pageSize: Int = 4096, autoVacuum: String? = nil) throws -> String {
        let db = dir.file("app.db")
        try DB.sql(
            db,
            """
            PRAGMA page_size=\(pageSize); \(autoVacuum.map { "PRAGMA auto_vacuum=\($0);" } ?? "")
            CREATE TABLE filler(v INTEGER, b BLOB); CREATE TABLE log(n INTEGER PRIMARY KEY);
            WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < \(rows))
            INSERT INTO filler SELECT 1, randomblob(3000) FROM c;
            """)
        return db
    }

    static func bytes(_ path: String) throws -> Data { try #require(FileManager.default.contents(atPath: path)) }

    static func emptyCopy(_ dir: TempDir) throws -> String {
        let copy = dir.file("snapshot.db")
        try? FileManager.default.removeItem(atPath: copy)
        try #require(FileManager.default.createFile(atPath: copy, contents: nil))
        return copy
    }

    /// The copy is one state: integrity_check ok and every filler row of one version.
    static func expectOneState(_ copy: String, version: Int? = nil) throws {
        #expect(try DB.sql(copy, "PRAGMA integrity_check") == ["ok"])
        let versions = try DB.sql(copy, "SELECT group_concat(v) FROM (SELECT DISTINCT v FROM filler)")
        if let version {
            #expect(versions == ["\(version)"], "every row of the copy from one committed state")
        } else {
            #expect(versions.first?.contains(",") == false, "every row of the copy from one committed state, got versions \(versions)")
        }
    }

    /// Nothing beside the copy (the caller removes the copy itself).
    static func expectNothingBeside(_ copy: String) {
        for suffix in ["-journal", "-wal", "-shm"] {
            #expect(!FileManager.default.fileExists(atPath: copy + suffix), "\(copy + suffix) was left beside the copy")
        }
    }

    // MARK: 1. uncommitted pages in the file

    /// A writer whose big transactions spill uncommitted pages into the database file (cache_size=10,
    /// 500 pages rewritten in place) and are then rolled back, in a loop, while the snapshot runs
    /// three times. The change counter never moves (nothing commits), so only the read lock keeps
    /// the spilled pages out of a step: every copy must be the file as it was, byte for byte.
    @Test(arguments: ["DELETE", "TRUNCATE", "PERSIST", "MEMORY"])
    func rolledBackSpillsNeverReachTheCopy(journalMode: String) throws {
        let dir = TempDir()
        let db = try Self.database(dir)
        let original = try Self.bytes(db)
        let stop = dir.file("stop-writer")
        let writer = Process()
        let output = Pipe()
        let errors = Pipe()
        writer.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        writer.arguments = [
            "python3", "-c",
            """
            import os, sqlite3, sys, time
            db, stop, mode = sys.argv[1], sys.argv[2], sys.argv[3]
            c = sqlite3.connect(db, timeout=5, isolation_level=None)
            c.execute("PRAGMA journal_mode=" + mode)
            c.execute("PRAGMA cache_size=10")
            c.execute("PRAGMA synchronous=OFF")   # no fsync per spill: short transactions
            n = 0; failures = 0
            while not os.path.exists(stop):
                try:
                    c.execute("BEGIN")
                    c.execute("UPDATE filler SET v = 2, b = randomblob(3000) WHERE rowid % 3 = ?", (n % 3,))
                    c.execute("INSERT INTO log(n) VALUES (-1)")
                    c.execute("ROLLBACK")
                    n += 1
                except sqlite3.OperationalError as e:
                    failures += 1
                    print(e, file=sys.stderr, flush=True)
                    if c.in_transaction: c.execute("ROLLBACK")
                if n == 2: open(stop + ".ready", "w").close()
                time.sleep(0.005)   # a gap longer than the snapshot's poll, so each step gets in soon
            print(n, failures, flush=True)
            """, db, stop, journalMode,
        ]
        writer.standardOutput = output
        writer.standardError = errors
        try writer.run()
        for _ in 0..<2000 where !FileManager.default.fileExists(atPath: stop + ".ready") && writer.isRunning { usleep(5_000) }
        try #require(FileManager.default.fileExists(atPath: stop + ".ready"), "the writer never rolled back twice")
        var reports: [SQLite.SnapshotReport] = []
        for round in 0..<3 {
            let copy = try Self.emptyCopy(dir)
            // A pause before every step (no lock is held then) lets the writer spill in between.
            reports.append(
                try SQLite.snapshot(
                    db, to: copy, deadline: Clock.now() + 60,
                    stop: {
                        usleep(2_000)
                        return 0
                    }))
            #expect(try Self.bytes(copy) == original, "round \(round): the copy holds pages of a transaction that was rolled back")
            try Self.expectOneState(copy, version: 1)
            #expect(try DB.sql(copy, "SELECT count(*) FROM log") == ["0"])
            Self.expectNothingBeside(copy)
        }
        try #require(FileManager.default.createFile(atPath: stop, contents: nil))
        writer.waitUntilExit()
        let said = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaints = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let fields = said.split(separator: " ").compactMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        print("rolled-back spills \(journalMode): \(reports); writer: \(said)")
        try #require(fields.count == 2, "writer: \(said) \(complaints)")
        #expect(fields[0] > 3, "the writer rolled back during the snapshots")
        #expect(fields[1] == 0, "the writer's statements failed: \(complaints)")
        #expect(try Self.bytes(db) == original, "nothing was committed")
    }

    /// A writer SIGKILLed between two steps in the middle of a transaction whose pages it had already
    /// spilled into the file (all over it, the copied part and the rest, page 1 untouched so the
    /// header looks unchanged): a hot journal. The next step's read lock rolls it back before reading,
    /// so the copy is the committed state, byte for byte.
    @Test(arguments: ["DELETE", "TRUNCATE", "PERSIST"])
    func aWriterKilledMidTransactionBetweenTwoStepsIsRolledBack(journalMode: String) throws {
        let dir = TempDir()
        let db = try Self.database(dir)
        try DB.sql(db, "INSERT INTO log VALUES (1);")
        let original = try Self.bytes(db)
        let copy = try Self.emptyCopy(dir)
        let hook = StepHook()
        var spilled = false
        var hot = false
        hook.actions[8] = {  // three steps copied
            let app = try AppConnection(db)
            #expect(app.run("PRAGMA journal_mode=\(journalMode)") == "ok \(journalMode.lowercased())")
            #expect(app.run("PRAGMA cache_size=10") == "ok ")
            #expect(app.run("BEGIN") == "ok ")
            #expect(app.run("UPDATE filler SET v = 2, b = randomblob(3000)") == "ok ")
            #expect(app.run("INSERT INTO log VALUES (2)") == "ok ")
            spilled = (try Self.bytes(db)) != original
            app.kill()
            hot = ((try? FileManager.default.attributesOfItem(atPath: db + "-journal")[.size] as? Int) ?? 0) > 0
        }
        let report = try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 60, stop: hook.stop)
        #expect(hook.failure == nil, "\(String(describing: hook.failure))")
        #expect(hook.calls > 8, "the writer died during the copy")
        #expect(spilled, "the writer's transaction had written uncommitted pages into the file")
        #expect(hot, "the dead writer left a hot journal")
        print("killed writer \(journalMode): \(report)")
        #expect(try Self.bytes(copy) == original, "the copy is the committed state, byte for byte")
        try Self.expectOneState(copy, version: 1)
        #expect(try DB.sql(copy, "SELECT group_concat(n) FROM log") == ["1"])
        #expect(try Self.bytes(db) == original, "the hot journal was rolled back on the volume too")
        Self.expectNothingBeside(copy)
    }

    // MARK: 2. the file's shape changes between two steps

    /// What another connection commits between two steps (after three of the six).
    enum Change: String, CaseIterable, CustomTestStringConvertible {
        case vacuumShrinks, growsByTwelveMiB, pageSizeChangedByVacuum, sameSizeRewrite, incrementalVacuum
        var testDescription: String { rawValue }
    }

    /// A commit between two steps that shrinks the file (VACUUM), grows it by many MiB, changes
    /// its page size (VACUUM), rewrites pages in place without changing the size, the page count or
    /// the freelist (only the change counter moves), or frees pages and then truncates them away
    /// (auto_vacuum=INCREMENTAL, two commits at two different steps). Each restarts the copy; the
    /// result is the state after the last commit, byte for byte.
    @Test(arguments: Change.allCases)
    func aChangeOfTheFilesShapeBetweenStepsRestartsTheCopy(change: Change) throws {
        let dir = TempDir()
        let db = try Self.database(dir, autoVacuum: change == .incrementalVacuum ? "INCREMENTAL" : nil)
        let copy = try Self.emptyCopy(dir)
        let before = try Self.bytes(db)
        let hook = StepHook()
        var restarts = 1
        switch change {
        case .vacuumShrinks:
            hook.actions[8] = { try DB.sql(db, "DELETE FROM filler WHERE rowid > 300; UPDATE filler SET v = 2; VACUUM;") }
        case .growsByTwelveMiB:
            hook.actions[8] = {
                try DB.sql(
                    db,
                    """
                    UPDATE filler SET v = 2;
                    WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
                    INSERT INTO filler SELECT 2, randomblob(3000) FROM c;
                    """)
            }
        case .pageSizeChangedByVacuum:
            hook.actions[8] = { try DB.sql(db, "PRAGMA page_size=16384; UPDATE filler SET v = 2; VACUUM;") }
        case .sameSizeRewrite:
            // Rows of the first MiB, already copied, rewritten in place at the same length.
            hook.actions[8] = { try DB.sql(db, "UPDATE filler SET v = 2, b = randomblob(3000);") }
        case .incrementalVacuum:
            hook.actions[6] = { try DB.sql(db, "DELETE FROM filler WHERE rowid > 750; UPDATE filler SET v = 2;") }
            hook.actions[12] = { try DB.sql(db, "PRAGMA incremental_vacuum;") }
            restarts = 2
        }
        let report = try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 60, stop: hook.stop)
        #expect(hook.failure == nil, "\(String(describing: hook.failure))")
        print("\(change): \(report), \(before.count) -> \((try? Self.bytes(db).count) ?? -1) bytes")
        let after = try Self.bytes(db)
        switch change {
        case .vacuumShrinks: #expect(after.count < before.count / 2)
        case .incrementalVacuum: #expect(after.count < before.count * 6 / 10)
        case .growsByTwelveMiB: #expect(after.count > before.count + 10 << 20)
        case .pageSizeChangedByVacuum: #expect(try DB.sql(db, "PRAGMA page_size") == ["16384"])
        case .sameSizeRewrite:
            #expect(after.count == before.count)
            #expect(after[28..<40] == before[28..<40], "page count and freelist unchanged: only the change counter tells")
            #expect(after[24..<28] != before[24..<28])
        }
        #expect(report.method == .steps)
        #expect(report.restarts == restarts, "\(report)")
        #expect(try Self.bytes(copy) == after, "the state after the commit, byte for byte")
        try Self.expectOneState(copy, version: 2)
        Self.expectNothingBeside(copy)
    }

    // MARK: 3. journal modes without a journal file

    /// An app committing every ~2 ms with its connection in journal_mode=MEMORY or OFF (the file
    /// says nothing about them): the copy is a committed prefix of its rows, and no commit failed.
    @Test(arguments: ["MEMORY", "OFF"])
    func writersWithoutAJournalFileCommitThroughTheSnapshot(journalMode: String) throws {
        let dir = TempDir()
        let db = try Self.database(dir)
        let writer = try AppWriter(db, timeout: 1, journalMode: journalMode)
        try writer.waitUntilCommitting()
        var reports: [SQLite.SnapshotReport] = []
        var counts: [Int] = []
        for _ in 0..<2 {
            let copy = try Self.emptyCopy(dir)
            reports.append(try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 60))
            try Self.expectOneState(copy, version: 1)
            let stats = try DB.sql(copy, "SELECT count(*) || ' ' || coalesce(min(n), 0) || ' ' || coalesce(max(n), 0) FROM log")
            let parts = try #require(stats.first).split(separator: " ").compactMap { Int($0) }
            try #require(parts.count == 3)
            #expect(parts[0] >= 20 && parts[1] == 1 && parts[2] == parts[0], "a gap-free prefix of the commits, got \(stats)")
            counts.append(parts[0])
            Self.expectNothingBeside(copy)
        }
        let result = try writer.finish()
        print("\(journalMode) writer: \(reports); \(result.committed) commits, \(result.failures) failed, longest \(result.longest) s")
        #expect(result.failures == 0, "\(result.errors)")
        #expect(counts.allSatisfy { $0 <= result.committed })
    }

    // MARK: 4. WAL during the snapshot

    /// What the app's last close left on disk.
    final class Closed: @unchecked Sendable { var walLeft = false }

    /// At hook call `call`: the app commits a change of every row (v = 2) and closes its connection,
    /// the last one of the app; the result says whether the WAL was still there afterwards.
    static func appCommitsAndCloses(_ app: AppConnection, _ db: String, at call: Int, in hook: StepHook) -> Closed {
        let closed = Closed()
        hook.actions[call] = {
            #expect(app.run("UPDATE filler SET v = 2") == "ok ")
            #expect(app.run("close") == "closed")
            closed.walLeft = FileManager.default.fileExists(atPath: db + "-wal")
        }
        return closed
    }

    /// After `appCommitsAndCloses` during the WAL copy: the copy is the state its read transaction
    /// started from (every row v = 1), the WAL was kept meanwhile, the app's commit is kept.
    static func expectTheWALCopyKeptOneState(_ copy: String, _ db: String, _ report: SQLite.SnapshotReport, _ closed: Closed) throws {
        #expect(report.method == .walReadTransaction)
        #expect(closed.walLeft, "the snapshot's read transaction kept the WAL: the app's close could not checkpoint it away")
        try expectOneState(copy, version: 1)
        expectNothingBeside(copy)
        #expect(try DB.sql(db, "SELECT group_concat(v) FROM (SELECT DISTINCT v FROM filler)") == ["2"], "the app's commit is kept")
        #expect(DB.integrity(db) == "ok")
    }

    /// The app switches the database to WAL between two steps of the byte copy and keeps its
    /// connection; the snapshot goes on as a WAL copy inside one read transaction. During that copy
    /// the app commits a change of every row and closes its connection (the last one of the app:
    /// SQLite then checkpoints and deletes the WAL unless another connection holds a shared lock on
    /// the database file). The copy must be the state its read transaction started from (every row
    /// v = 1), and the app's commit must be kept in the live database.
    @Test func aSwitchToWALMidCopyThenTheAppsLastConnectionClosing() throws {
        let dir = TempDir()
        let db = try Self.database(dir)
        let copy = try Self.emptyCopy(dir)
        let app = try AppConnection(db)
        defer { app.end() }
        #expect(app.run("SELECT count(*) FROM filler") == "ok 1500")
        let hook = StepHook()
        hook.actions[8] = { #expect(app.run("PRAGMA journal_mode=WAL") == "ok wal") }  // three steps copied
        // Call 9 finds WAL inside the step, 10 reads the mode again, 11 and 12 come before the first
        // two backup steps: one MiB of the WAL copy made.
        let closed = Self.appCommitsAndCloses(app, db, at: 12, in: hook)
        let report = try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 60, stop: hook.stop)
        #expect(hook.failure == nil, "\(String(describing: hook.failure))")
        print("switch to WAL mid-copy: \(report), \(hook.calls) calls, WAL left after the app's close: \(closed.walLeft)")
        #expect(hook.calls > 12, "the app closed during the WAL copy")
        try Self.expectTheWALCopyKeptOneState(copy, db, report, closed)
    }

    /// The same through the locked copy: four commits between steps (the fourth restart gives up
    /// stepping), the switch to WAL during the locked copy's unlocked first pass, and the app's
    /// commit and last close during the WAL copy that follows.
    @Test func aSwitchToWALDuringTheLockedCopyThenTheAppsLastConnectionClosing() throws {
        let dir = TempDir()
        let db = try Self.database(dir)
        let copy = try Self.emptyCopy(dir)
        let app = try AppConnection(db)
        defer { app.end() }
        let hook = StepHook()
        // Calls 4, 6, 8 and 10 come before steps 2 to 5: each commit restarts the next step, the
        // fourth restart (call 11) ends the stepping. Calls 12-17 come before the six chunks of the
        // locked copy's first pass, 18 before its lock (WAL found), 19 reads the mode again, 20 and 21
        // come before the first two backup steps.
        for (k, call) in [4, 6, 8, 10].enumerated() { hook.actions[call] = { #expect(app.run("INSERT INTO log VALUES (\(k + 1))") == "ok ") } }
        hook.actions[13] = { #expect(app.run("PRAGMA journal_mode=WAL") == "ok wal") }
        let closed = Self.appCommitsAndCloses(app, db, at: 21, in: hook)
        let report = try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 60, stop: hook.stop)
        #expect(hook.failure == nil, "\(String(describing: hook.failure))")
        print("switch to WAL in the locked copy: \(report), \(hook.calls) calls, WAL left after the app's close: \(closed.walLeft)")
        #expect(hook.calls > 21, "the app closed during the WAL copy")
        #expect(report.restarts == 4, "\(report)")
        #expect(try DB.sql(copy, "SELECT group_concat(n) FROM log") == ["1,2,3,4"])
        try Self.expectTheWALCopyKeptOneState(copy, db, report, closed)
    }

    /// The app switches to WAL, commits, and switches back to DELETE, all between two steps: the
    /// next step finds a rollback journal with a new change counter and restarts; the copy is the
    /// final state, byte for byte, with no WAL beside anything.
    @Test func aSwitchToWALAndBackBetweenStepsRestartsTheCopy() throws {
        let dir = TempDir()
        let db = try Self.database(dir)
        let copy = try Self.emptyCopy(dir)
        let hook = StepHook()
        hook.actions[8] = {
            let app = try AppConnection(db)
            #expect(app.run("PRAGMA journal_mode=WAL") == "ok wal")
            #expect(app.run("UPDATE filler SET v = 2") == "ok ")
            #expect(app.run("INSERT INTO log VALUES (7)") == "ok ")
            #expect(app.run("PRAGMA journal_mode=DELETE") == "ok delete")
            app.end()
        }
        let report = try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 60, stop: hook.stop)
        #expect(hook.failure == nil, "\(String(describing: hook.failure))")
        print("WAL and back: \(report)")
        #expect(report.method == .steps)
        #expect(report.restarts == 1, "\(report)")
        #expect(try Self.bytes(copy) == (try Self.bytes(db)))
        try Self.expectOneState(copy, version: 2)
        #expect(try DB.sql(copy, "SELECT group_concat(n) FROM log") == ["7"])
        Self.expectNothingBeside(copy)
        #expect(!FileManager.default.fileExists(atPath: db + "-wal"))
    }

    // MARK: 4b. the file replaced

    /// The app replaces the database file by a rename (a restore of its own) between two steps and
    /// at once writes the new file: a transaction that spills uncommitted pages into it and is still
    /// open when the next step takes its lock. The snapshot's connection holds the old file, so the
    /// new file's journal at the same path looks hot to it (the writer's lock is on the other file):
    /// SQLite played that journal back into the old file and deleted it (before the fix the copy was
    /// a mix of both files, v = 1 and v = 3). The snapshot must stop with one line instead (or copy one
    /// committed state of one file), and the new database must survive its writer's rollback intact.
    @Test func theDatabaseReplacedByARenameDuringTheSnapshot() throws {
        let dir = TempDir()
        let db = try Self.database(dir)
        let replacement = dir.file("replacement.db")
        try FileManager.default.copyItem(atPath: db, toPath: replacement)
        try DB.sql(replacement, "UPDATE filler SET v = 3;")
        let copy = try Self.emptyCopy(dir)
        let hook = StepHook()
        var app: AppConnection?
        defer { app?.end() }
        hook.actions[6] = {  // two steps copied
            try #require(rename(replacement, db) == 0)
            let writer = try AppConnection(db)
            app = writer
            #expect(writer.run("PRAGMA cache_size=10") == "ok ")
            #expect(writer.run("BEGIN") == "ok ")
            #expect(writer.run("UPDATE filler SET v = 4, b = randomblob(3000)") == "ok ")
            #expect(FileManager.default.fileExists(atPath: db + "-journal"))
        }
        let result = Result { try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 60, lockTimeout: 2, stop: hook.stop) }
        #expect(hook.failure == nil, "\(String(describing: hook.failure))")
        print("replaced by a rename: \(result)")
        #expect(hook.calls >= 6)
        #expect(app?.run("ROLLBACK") == "ok ")
        app?.end()
        #expect(DB.integrity(db) == "ok", "the new database survives its writer's rollback")
        #expect(try DB.sql(db, "SELECT group_concat(v) FROM (SELECT DISTINCT v FROM filler)") == ["3"], "the new database is its committed state")
        switch result {
        case .success:
            #expect(try DB.sql(copy, "PRAGMA integrity_check") == ["ok"])
            let versions = try DB.sql(copy, "SELECT group_concat(v) FROM (SELECT DISTINCT v FROM filler)")
            #expect(versions == ["1"] || versions == ["3"], "one committed state of one file, got versions \(versions)")
        case .failure(let error):
            let e = try #require(error as? EntrypointError)
            #expect(e.code == .localIO && e.message.contains(db) && e.message.contains("renamed over") && !e.message.contains("\n"), "\(e.message)")
        }
        Self.expectNothingBeside(copy)
    }

    // MARK: 5. locking_mode=EXCLUSIVE

    /// An app holding the database with locking_mode=EXCLUSIVE from before the snapshot (rollback
    /// journal or WAL), or taking it between two steps: the snapshot ends with the lock-timeout error,
    /// one line naming the database and ENTRYPOINT_LOCK_TIMEOUT, soon after the timeout.
    @Test(arguments: ["DELETE before", "WAL before", "DELETE mid-copy"])
    func anExclusiveLockingAppEndsTheSnapshotWithTheLockTimeout(setup: String) throws {
        let dir = TempDir()
        let db = try Self.database(dir)
        let copy = try Self.emptyCopy(dir)
        let app = try AppConnection(db)
        defer { app.end() }
        func lockExclusively() {
            #expect(app.run("PRAGMA locking_mode=EXCLUSIVE") == "ok exclusive")
            #expect(app.run("INSERT INTO log VALUES (1)") == "ok ")
        }
        if setup.hasPrefix("WAL") { #expect(app.run("PRAGMA journal_mode=WAL") == "ok wal") }
        let hook = StepHook()
        if setup.hasSuffix("before") { lockExclusively() } else { hook.actions[8] = lockExclusively }
        let started = Date()
        var message = ""
        #expect {
            try SQLite.snapshot(db, to: copy, deadline: Clock.now() + 60, lockTimeout: 0.5, stop: hook.stop)
        } throws: { error in
            guard let e = error as? EntrypointError else { return false }
            message = e.message
            return e.code == .localIO && e.message.contains("ENTRYPOINT_LOCK_TIMEOUT") && e.message.contains(db) && !e.message.contains("\n")
        }
        let took = Date().timeIntervalSince(started)
        print("exclusive app (\(setup)): \(Int(took * 1000)) ms: \(message)")
        #expect(took >= 0.5 && took < 10)
        if setup.hasSuffix("mid-copy") { #expect(hook.calls > 8) }
        Self.expectNothingBeside(copy)
        app.end()
        #expect(DB.integrity(db) == "ok")
        try SnapshotTests.expectUnlocked(db)
    }

    // MARK: 6. odd files

    /// A file longer than page_count * page_size (trailing bytes, not a whole page), a one-page
    /// database of 512 bytes, and a file of exactly two steps: each copied byte for byte.
    @Test(arguments: ["trailing bytes", "one page", "exactly two steps"])
    func oddFilesAreCopiedByteForByte(shape: String) throws {
        let dir = TempDir()
        let db = dir.file("app.db")
        switch shape {
        case "one page":
            try DB.sql(db, "PRAGMA page_size=512; PRAGMA user_version=7;")
            #expect(try Self.bytes(db).count == 512)
        case "trailing bytes":
            _ = try Self.database(dir, rows: 400)
            let handle = try #require(FileHandle(forWritingAtPath: db))
            handle.seekToEndOfFile()
            handle.write(Data((0..<1000).map { UInt8($0 % 251) }))
            handle.closeFile()
        default:
            _ = try Self.database(dir, rows: 400)
            try #require(truncate(db, 2 << 20) == 0)
        }
        let original = try Self.bytes(db)
        let copy = try Self.emptyCopy(dir)
        let report = try SQLite.snapshot(db, to: copy)
        #expect(report.method == .steps && report.restarts == 0, "\(report)")
        #expect(try Self.bytes(copy) == original)
        #expect(DB.integrity(copy) == DB.integrity(db))
        Self.expectNothingBeside(copy)
    }
}
