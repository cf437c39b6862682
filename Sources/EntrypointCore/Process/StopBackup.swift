// The end of the stop sequence (docs/design.md, "The supervisor", Stop): the running worker, the
// stop backup within what is left of ENTRYPOINT_STOP_DEADLINE, one line saying what happened, then
// the app's status. Nothing here outlasts the deadline: a worker gets SIGTERM `killGrace` before it
// and SIGKILL at it.
import Glibc

extension Supervisor {
    /// A stop backup that exits 69 this close to its own deadline was cut off by it: its retry loop
    /// starts no try in the last `DropboxClient.minimumTryTime` seconds, and the worker's deadline
    /// counts from its own start, a little after `started` (a fixed 0.05 s missed the loop's 0.1 s).
    static var cutOffTolerance: Double { DropboxClient.minimumTryTime + 0.15 }

    /// Waits for the running worker until `end`: SIGTERM `killGrace` before it, SIGKILL at it.
    /// Signals keep being taken (and forwarded while the app runs) meanwhile. True when it had to be stopped.
    @discardableResult
    func waitForWorker(until end: Double) -> Bool {
        let term = max(Clock.now(), end - Self.killGrace)
        var stopped = false
        while var w = worker {
            let now = Clock.now()
            if w.terminatedAt == nil && now >= term {
                if kill(w.pid, SIGTERM) != 0 && errno != ESRCH { log.warning("cannot stop the backup worker \(w.pid): \(errnoText(errno))") }
                w.terminatedAt = now
                worker = w
                stopped = true
            } else if w.terminatedAt != nil, now >= end {
                if kill(w.pid, SIGKILL) != 0 && errno != ESRCH { log.warning("cannot kill the backup worker \(w.pid): \(errnoText(errno))") }
            }
            let wake = w.terminatedAt == nil ? term : end
            if let sig = waitForSignal(min(max(wake - now, 0.01), 0.5)), sig != SIGCHLD { forward(sig) }
            reap()
        }
        return stopped
    }

    /// The app is gone: the stop backup when enabled, then the child's status.
    func finish(_ status: Int32) -> Int32 {
        let deadline = (stopStart ?? childExitedAt) + config.stopDeadline
        let window = "the \(config.stopDeadline.clean)s stop deadline (ENTRYPOINT_STOP_DEADLINE)"
        guard config.backupOnStop else {
            if worker != nil {
                log.info("waiting for the running backup to finish (at most \(max(0, deadline - Clock.now()).clean)s, \(window))")
                waitForWorker(until: deadline)
            }
            return status
        }
        if worker != nil {
            // A periodic backup is running: let it finish within half the time left, then stop it;
            // the stop backup takes a newer snapshot anyway.
            let half = Clock.now() + max(0, deadline - Clock.now()) / 2
            log.info("waiting for the running periodic backup (at most \(max(0, half - Clock.now()).rounded().clean)s) before the stop backup")
            waitForWorker(until: half)
        }
        let now = changes.take()
        if let clean, now == clean {
            log.info(
                "stop backup: \(config.localPath) did not change since the last restore or upload; nothing to upload; exiting with \(name)'s status \(status)")
            heartbeat(final: true, failure: nil)
            return status
        }
        let left = deadline - Clock.now()
        // Any time left is worth a try (a small database takes a fraction of a second); the worker is
        // given at least 1 s, and the SIGTERM/SIGKILL below keep to ours.
        guard left >= Self.minimumStopBackupTime else {
            log.error(
                "stop backup skipped: \(window) has passed (\(name) took \((Clock.now() - (stopStart ?? childExitedAt)).clean)s to stop); Dropbox keeps its previous file; exiting with \(name)'s status \(status)"
            )
            heartbeat(final: true, failure: "stop backup skipped: \(window) had passed")
            return status
        }
        let started = Clock.now()
        // The worker's own deadline ends before ours, so it gives up (and says so) before the SIGTERM.
        // It is given as the stop deadline (Support/Deadline.swift), so its lines name that one.
        let given = max(1, ((left - Self.killGrace) * 10).rounded(.down) / 10)
        startWorker(fingerprint: now, final: true, overrides: [Deadline.workerVariable: Deadline.stop(seconds: given).workerValue])
        let stopped = waitForWorker(until: deadline)
        let took = (Clock.now() - started).clean
        let exiting = "Dropbox keeps its previous file; exiting with \(name)'s status \(status)"
        switch lastWorkerStatus {
        case 0?:
            log.info("stop backup done in \(took)s; exiting with \(name)'s status \(status)")
        case let code? where stopped:
            log.error("stop backup did not finish within \(window); stopped it (exit \(code)) after \(took)s; \(exiting)")
        case let code? where code == ExitCode.unavailable.rawValue && Clock.now() >= started + given - Self.cutOffTolerance:
            // It gave up at its own deadline, which is what was left of ours (exit 69, the deadline's
            // code): the window cut it off, not a Dropbox that said no.
            log.error(
                "stop backup did not finish within \(window): cut off after \(took)s (exit \(code): it gave up at its own deadline, the \(given.clean)s that were left of it); \(exiting)"
            )
        case ExitCode.unavailable.rawValue?:
            log.error("stop backup failed: Dropbox unreachable or failing (exit 69 after \(took)s, the line above says why); \(exiting)")
        case let code?:
            log.error("stop backup failed (exit \(code) after \(took)s; the line above says why); \(exiting)")
        case nil:
            break
        }
        if let code = lastWorkerStatus {
            let what = stopped ? "did not finish within \(window)" : "failed"
            heartbeat(
                final: true, failure: code == 0 ? nil : "stop backup \(what) (exit \(code) after \(took)s); Dropbox keeps its previous file", status: code)
        }
        return status
    }

    /// A worker that had to be stopped (SIGKILL) may have left its snapshot (a full-size copy), the
    /// download of Dropbox's rev for a merge, a base downloaded by rev, or a record's temporary beside
    /// the database (Volume/Temporaries.swift). Removed now instead of at the next restore, under the
    /// restore lock, and only when nobody holds it (a `--backup` run by hand owns its own files).
    func removeStoppedWorkerLeftovers() {
        guard let lock = try? FileDescriptor.open(config.localPath + ".entrypoint.lock", O_RDWR | O_CLOEXEC),
            flock(lock.raw, LOCK_EX | LOCK_NB) == 0
        else { return }
        Temporaries.removeLeftovers(of: config.localPath, leftBy: "the stopped backup", log: log)
        withExtendedLifetime(lock) {}  // closing it releases the flock
    }
}
