// Supervision (opt-in: ENTRYPOINT_BACKUP_INTERVAL or ENTRYPOINT_BACKUP_ON_STOP): the command runs
// as a child and entrypoint stays, the way tini does it: it forwards signals, reaps every zombie,
// exits with the child's status, and runs backups as separate worker processes
// (`entrypoint --backup --auto`), so that waiting for a backup never delays a signal.
// All signals are blocked and taken with sigtimedwait: no work happens in a signal handler.
import CShims
import Glibc

final class Supervisor {
    /// Forwarded to the child at once, whatever else is going on: every signal but those that
    /// cannot be caught, SIGCHLD (ours), SIGPIPE (ignored: a write to a closed pipe fails with EPIPE),
    /// the terminal's SIGTTIN/SIGTTOU and the synchronous ones that report our own fault (tini's set).
    /// Any other signal left to its default action would end the supervisor (SIGALRM, SIGPWR,
    /// SIGRTMIN+n...), skip the stop backup and orphan the app.
    static let forwarded: [Int32] = {
        let notForwarded: Set<Int32> = [
            SIGKILL, SIGSTOP, SIGCHLD, SIGPIPE, SIGTTIN, SIGTTOU, SIGFPE, SIGILL, SIGSEGV, SIGBUS, SIGABRT, SIGTRAP, SIGSYS,
        ]
        let standard = (1..<32).filter { !notForwarded.contains($0) }
        return standard + Array(__libc_current_sigrtmin()...__libc_current_sigrtmax())
    }()
    /// Seconds between the SIGTERM to a worker that overran its deadline and the SIGKILL, and the
    /// most the supervisor waits for the app's processes to go after their SIGKILL.
    static let killGrace = 0.5
    /// Below this many seconds left of the stop deadline, the stop backup is skipped.
    static let minimumStopBackupTime = 0.1

    struct Worker {
        let pid: pid_t
        /// Taken just before it started; becomes the clean state when it exits 0 (nil: unknown).
        let fingerprint: Fingerprint?
        let final: Bool
        let started: Double
        var terminatedAt: Double?
    }

    let command: [String]
    let config: Configuration
    let environment: [String: String]
    let log: Logger
    var signals = sigset_t()
    var child: pid_t = 0
    var childStatus: Int32?
    var childExitedAt = 0.0
    var stopSignalAt: Double?
    /// When what was left of the app got SIGKILL at the end of its grace (nil: not killed).
    var killedAt: Double?
    /// The instant the stop sequence counts from: the first stop signal, else the child's own exit.
    var stopStart: Double? { stopSignalAt ?? (childStatus != nil ? childExitedAt : nil) }
    var worker: Worker?
    /// The database as last restored or uploaded (nil: unknown, so the next tick backs up).
    var clean: Fingerprint?
    /// The kept connection that tells whether the database changed (Volume/ChangeCheck.swift).
    lazy var changes = ChangeCheck(config.localPath)
    /// The exit status of the last worker that ended.
    var lastWorkerStatus: Int32?
    var name: String { command.first ?? "the command" }
    /// What the child gets: no Dropbox secrets, ENTRYPOINT_APP_USER (AppLaunch.swift).
    var launch = AppLaunch(passSecrets: false, user: nil)

    /// The restore left the database as Dropbox has it. When not (it kept local changes that are
    /// not in Dropbox yet, if-missing, a start without Dropbox), there is no clean state: the first
    /// tick and the stop backup run a worker, which decides from the data.
    let startsInSync: Bool

    init(command: [String], config: Configuration, environment: [String: String], log: Logger, startsInSync: Bool = true) {
        self.startsInSync = startsInSync
        self.command = command
        self.config = config
        self.environment = environment
        self.log = log
    }

    /// Blocks the handled signals. Called before the stop-signal check that precedes the start, so
    /// a signal from then on is queued for sigtimedwait instead of being lost.
    func blockSignals() {
        sigemptyset(&signals)
        for sig in Self.forwarded + [SIGCHLD] { sigaddset(&signals, sig) }
        if sigprocmask(SIG_BLOCK, &signals, nil) != 0 {
            log.warning("cannot block signals for supervision: \(errnoText(errno))")
        }
        // Inherited dispositions that would break supervision: SIGCHLD ignored (or SA_NOCLDWAIT) makes
        // the kernel reap the children itself, so the app's exit is never seen; an ignored forwarded
        // signal would be discarded before sigtimedwait takes it. All blocked now: SIG_DFL is safe.
        Signals.resetForSupervision()
        // The child may take the terminal's foreground; our own log lines must not stop us.
        bestEffort("SIG_ERR is only for an invalid signal number", signal(SIGTTOU, SIG_IGN))
        bestEffort("SIG_ERR is only for an invalid signal number", signal(SIGTTIN, SIG_IGN))
    }

    /// Runs the command to its end and returns the exit status to exit with.
    func run() -> Int32 {
        if ep_set_child_subreaper() != 0 {
            log.warning("cannot become a child subreaper (\(errnoText(errno))); orphaned processes of \(name) are reaped only when entrypoint is PID 1")
        }
        // The state the restore left, taken before the app can write: nobody else writes now.
        clean = startsInSync ? changes.take() : nil
        child = Spawn.command(command, environment: environment, launch: launch, log: log)
        guard child > 0 else {
            log.error("cannot start \(name): fork failed: \(errnoText(errno))")
            return ExitCode.software.rawValue
        }
        // The child makes its own group too; here as well, so a signal sent before it ran finds the group.
        bestEffort("EACCES once the child has exec'd: it made the group itself", setpgid(child, child))
        var what: [String] = []
        if let interval = config.backupInterval { what.append("backups every \(Configuration.formatDuration(interval))") }
        if config.backupOnStop { what.append("a last backup on stop within \(config.stopDeadline.clean)s") }
        log.info("supervising \(name) as pid \(child) (\(what.joined(separator: ", ")))")
        waitForApp()
        let status = finish(childStatus!)
        changes.close()
        return status
    }

    // MARK: - signals and children

    /// Waits up to `seconds` for one of the handled signals; nil on timeout.
    func waitForSignal(_ seconds: Double) -> Int32? {
        let s = max(0, min(seconds, 86_400))
        var ts = timespec(tv_sec: Int(s), tv_nsec: Int((s - s.rounded(.down)) * 1e9))
        var info = siginfo_t()
        let sig = sigtimedwait(&signals, &info, &ts)
        return sig > 0 ? sig : nil
    }

    func forward(_ sig: Int32) {
        let stop = sig == SIGTERM || sig == SIGINT
        let toGroup = Self.toGroup.contains(sig)
        guard childStatus == nil else {
            if toGroup && killedAt == nil && restAlive() {
                signalApp(sig)
                log.info("\(Signals.name(sig)) forwarded to the rest of \(name)'s process group")
                if stop && stopSignalAt == nil { stopSignalAt = Clock.now() }
            } else if stop {
                log.info("\(Signals.name(sig)) received while stopping; \(name) has already exited; the stop backup goes on until its deadline")
            }
            return
        }
        if toGroup {
            signalApp(sig)
        } else if kill(child, sig) != 0 && errno != ESRCH {
            log.warning("cannot forward \(Signals.name(sig)) to pid \(child): \(errnoText(errno))")
        }
        if stop && stopSignalAt == nil {
            stopSignalAt = Clock.now()
            log.info(
                "\(Signals.name(sig)) forwarded to \(name) and its process group (pid \(child)); waiting up to \(config.stopGrace.clean)s (ENTRYPOINT_STOP_GRACE) for it to exit\(config.backupOnStop ? ", then a last backup" : "")"
            )
        } else {
            log.debug("\(Signals.name(sig)) forwarded to pid \(child)")
        }
    }

    /// Reaps every child that has ended: the command, a worker, or an orphan re-parented to us.
    func reap() {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid == 0 { return }
            if pid < 0 {
                if errno == EINTR { continue }
                return  // ECHILD: no children left
            }
            if pid == child && childStatus == nil {
                childStatus = Spawn.exitStatus(status)
                childExitedAt = Clock.now()
                let signal = status & 0x7F
                log.info(
                    "\(name) (pid \(child)) \(signal == 0 ? "exited with status \(childStatus!)" : "was killed by \(Signals.name(signal)) (status \(childStatus!))")"
                )
            } else if let w = worker, pid == w.pid {
                workerEnded(w, status: Spawn.exitStatus(status))
            } else {
                log.debug("reaped orphaned process \(pid)")
            }
        }
    }

    // MARK: - backups

    /// A tick: a worker when the database changed. Also while the app shuts down (a slow shutdown
    /// keeps committing); the stop backup follows once it is gone.
    func periodicBackup() {
        if worker != nil {
            log.debug("the previous backup is still running; not starting another")
            return
        }
        let now = changes.take()
        if let clean, now == clean {
            log.debug("periodic backup: \(config.localPath) unchanged since the last restore or upload")
            heartbeat(final: false, failure: nil)
            return
        }
        // Given its deadline by name, so a stray ENTRYPOINT_WORKER_DEADLINE in the environment never applies.
        startWorker(fingerprint: now, final: false, overrides: [Deadline.workerVariable: Deadline.long(.backup, config, environment).workerValue])
    }

    func startWorker(fingerprint: Fingerprint?, final: Bool, overrides: [String: String]) {
        let pid = Spawn.worker(environment: environment, overrides: overrides, log: log)
        guard pid > 0 else {
            log.error("cannot start the \(final ? "stop" : "periodic") backup: fork failed: \(errnoText(errno))")
            lastWorkerStatus = ExitCode.software.rawValue
            if !final { heartbeat(final: false, failure: "cannot start the periodic backup: fork failed") }
            return
        }
        log.debug("\(final ? "stop" : "periodic") backup started as pid \(pid)")
        worker = Worker(pid: pid, fingerprint: fingerprint, final: final, started: Clock.now())
    }

    func workerEnded(_ w: Worker, status: Int32) {
        worker = nil
        lastWorkerStatus = status
        if w.terminatedAt != nil && status != 0 { removeStoppedWorkerLeftovers() }
        let took = (Clock.now() - w.started).clean
        if status == 0 {
            // Only now: a commit made while it ran changed the file after the fingerprint.
            clean = w.fingerprint
            log.debug("\(w.final ? "stop" : "periodic") backup finished in \(took)s")
            if !w.final { heartbeat(final: false, failure: nil) }
            return
        }
        if w.final { return }  // finish() logs the stop backup's result
        if w.terminatedAt != nil {
            log.info("periodic backup stopped after \(took)s (exit \(status)) to make way for the stop backup")
            return
        }
        if childStatus != nil {
            log.warning("periodic backup failed (exit \(status) after \(took)s); \(name) has exited\(config.backupOnStop ? "; the stop backup follows" : "")")
            return
        }
        let again = config.backupInterval.map { "trying again in \(Configuration.formatDuration($0))" } ?? "not trying again"
        log.warning("periodic backup failed (exit \(status) after \(took)s); \(name) keeps running; \(again)")
        heartbeat(final: false, failure: "periodic backup failed (exit \(status) after \(took)s); \(name) keeps running; \(again)", status: status)
    }
}
