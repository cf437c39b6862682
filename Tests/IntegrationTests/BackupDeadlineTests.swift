// A backup names its own deadline and its own wait for the volume's lock (never the restore's), and
// a worker gives up at the deadline the supervisor gave it by name (ENTRYPOINT_WORKER_DEADLINE).
import Foundation
import TestSupport
import Testing

@Suite struct BackupDeadlineTests {
    /// A restored volume with a local change, and another process holding the volume's lock.
    func lockedVolume() throws -> (World, Int32) {
        let w = try World()
        try w.publish(["base"])
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('local')")
        let fd = open(w.db + ".entrypoint.lock", O_RDWR | O_CREAT, 0o644)
        #expect(flock(fd, LOCK_EX) == 0)
        return (w, fd)
    }

    @Test func aBackupWaitingForTheLockSaysItIsTheBackupThatWaits() throws {
        let (w, fd) = try lockedVolume()
        defer { close(fd) }
        let r = try run(["--backup"], env: w.env(["ENTRYPOINT_LOCK_TIMEOUT": "1"]))
        #expect(r.status == 75, "\(r.output)")
        #expect(
            r.stderr.contains("another start or backup holds this volume's lock; this backup waits for it (lock \(w.db).entrypoint.lock, up to 1s)"),
            "\(r.stderr)")
        #expect(
            r.stderr.contains(
                "another start or backup held this volume's lock \(w.db).entrypoint.lock for more than 1s (ENTRYPOINT_LOCK_TIMEOUT); nothing was changed"),
            "\(r.stderr)")
        #expect(!r.stderr.contains("restor"), "\(r.stderr)")
        #expect(w.fake.requests("files/upload").isEmpty)
    }

    @Test func aBackupLockWaitEndsAtTheBackupDeadline() throws {
        let (w, fd) = try lockedVolume()
        defer { close(fd) }
        let r = try run(["--backup"], env: w.env(["ENTRYPOINT_LOCK_TIMEOUT": "60", "ENTRYPOINT_DEADLINE": "1"]))
        #expect(r.status == 75, "\(r.output)")
        #expect(
            r.stderr.contains("held this volume's lock \(w.db).entrypoint.lock until the 1s backup deadline (ENTRYPOINT_DEADLINE); nothing was changed"),
            "\(r.stderr)")
    }

    /// A worker given the stop deadline meets a held lock: its wait line names the bound that ends
    /// the wait (that deadline, sooner than ENTRYPOINT_LOCK_TIMEOUT), not the lock timeout.
    @Test func aWorkerLockWaitNamesTheStopDeadlineThatEndsIt() throws {
        let (w, fd) = try lockedVolume()
        defer { close(fd) }
        let r = try run(["--backup", "--auto"], env: w.env(["ENTRYPOINT_LOCK_TIMEOUT": "60", "ENTRYPOINT_WORKER_DEADLINE": "stop:1.5"]))
        #expect(r.status == 75, "\(r.output)")
        #expect(
            r.stderr.contains(
                "this backup waits for it (lock \(w.db).entrypoint.lock, until the 1.5s stop deadline (what was left of ENTRYPOINT_STOP_DEADLINE))"),
            "\(r.stderr)")
        #expect(!r.stderr.contains("up to 60s"), "\(r.stderr)")
    }

    /// Dropbox unreachable: the worker keeps trying until the deadline it was given, and names it.
    func unreachable(_ extra: [String: String]) throws -> (World, [String: String]) {
        let w = try World()
        try FileManager.default.createDirectory(atPath: w.volume.path + "/database", withIntermediateDirectories: true)
        try DB.make(w.db, rows: ["local"])
        var env = w.env(["ENTRYPOINT_MAX_ATTEMPTS": "100"])
        env["DROPBOX_API_URL"] = "http://127.0.0.1:9"
        env["DROPBOX_CONTENT_URL"] = "http://127.0.0.1:9"
        env.merge(extra) { $1 }
        return (w, env)
    }

    @Test func aWorkerNamesTheStopDeadlineItWasGiven() throws {
        let (w, env) = try unreachable(["ENTRYPOINT_WORKER_DEADLINE": "stop:1.5", "ENTRYPOINT_DEADLINE": "300"])
        let started = Date()
        let r = try run(["--backup", "--auto"], env: env)
        withExtendedLifetime(w) {}
        #expect(r.status == 69, "\(r.output)")
        #expect(r.stderr.contains("the 1.5s stop deadline (what was left of ENTRYPOINT_STOP_DEADLINE)"), "\(r.stderr)")
        #expect(!r.stderr.contains("ENTRYPOINT_DEADLINE"), "\(r.stderr)")
        #expect(Date().timeIntervalSince(started) < 30, "the given 1.5 s, not ENTRYPOINT_DEADLINE's 300 s")
    }

    @Test func aManualBackupIgnoresAWorkersDeadline() throws {
        let (w, env) = try unreachable(["ENTRYPOINT_WORKER_DEADLINE": "stop:1.5", "ENTRYPOINT_DEADLINE": "2"])
        let r = try run(["--backup"], env: env)
        withExtendedLifetime(w) {}
        #expect(r.status == 69, "\(r.output)")
        #expect(r.stderr.contains("the 2s backup deadline (ENTRYPOINT_DEADLINE)"), "\(r.stderr)")
        #expect(!r.stderr.contains("stop deadline"), "\(r.stderr)")
    }

    @Test func aMalformedWorkerDeadlineIsRefused() throws {
        let (w, env) = try unreachable(["ENTRYPOINT_WORKER_DEADLINE": "soon"])
        let r = try run(["--backup", "--auto"], env: env)
        withExtendedLifetime(w) {}
        #expect(r.status == 78, "\(r.output)")
        #expect(r.stderr.contains("ENTRYPOINT_WORKER_DEADLINE=soon is not <name>:<seconds>"), "\(r.stderr)")
    }
}
