// The app as a set of processes: the child, its process group (the child leads it, Spawn.command),
// and the processes re-parented to the supervisor (a child subreaper) that left the group. Stop
// signals go to all of them (dumb-init's default, tini -g); the stop backup waits until none is left.
import Glibc

extension Supervisor {
    /// Signals that go to the app's whole process group: those that mean "stop" (a shell wrapper that
    /// does not exec, `sh -c 'migrate && uvicorn ...'`, would otherwise keep them from the app). The
    /// others (SIGUSR1, SIGWINCH, ...) go to the child only: their meaning is the child's to relay.
    static let toGroup = Set(Signals.stop)

    /// Sends `sig` to the app's process group (the child alone when the group is gone or was never
    /// made) and to every re-parented process outside that group. Each process gets it once.
    func signalApp(_ sig: Int32) {
        if kill(-child, sig) != 0 {
            if errno != ESRCH { log.warning("cannot send \(Signals.name(sig)) to \(name)'s process group \(child): \(errnoText(errno))") }
            if childStatus == nil && kill(child, sig) != 0 && errno != ESRCH {
                log.warning("cannot send \(Signals.name(sig)) to pid \(child): \(errnoText(errno))")
            }
        }
        for pid in strays() where kill(pid, sig) != 0 && errno != ESRCH {
            log.warning("cannot send \(Signals.name(sig)) to pid \(pid): \(errnoText(errno))")
        }
    }

    /// True while a process of the app's group or a re-parented process is still there (zombies of
    /// ours are reaped before this is asked).
    func restAlive() -> Bool {
        if kill(-child, 0) == 0 || errno == EPERM { return true }
        return !strays().isEmpty
    }

    /// Our children other than the app, its group and the backup worker: processes re-parented to us
    /// that left the app's group (a daemon's setsid). From /proc/self/task/<pid>/children; without
    /// /proc (or CONFIG_PROC_CHILDREN) only the group is known.
    func strays() -> [pid_t] {
        let me = getpid()
        guard let text = try? FileIO.readSmallFile("/proc/self/task/\(me)/children", limit: 1 << 20) else { return [] }
        return String(decoding: text, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0) }
            .filter { $0 != worker?.pid && $0 != child && getpgid($0) != child }
    }

    /// Waits for the app's processes to be gone: the child (the main loop) and then the rest of its
    /// group and the re-parented ones, within the grace. At its end: SIGKILL to all of them, and at
    /// most `killGrace` more for them to go. Signals keep being taken and periodic backups keep running.
    func waitForApp() {
        var nextTick = config.backupInterval.map { Clock.now() + $0 }
        var restTold = false
        while true {
            let now = Clock.now()
            if childStatus != nil {
                if let killed = killedAt, now >= killed + Self.killGrace { return }
                if !restAlive() { return }
                // The child exited on its own and left others: they get the stop signal too (dumb-init).
                if stopSignalAt == nil && !restTold {
                    restTold = true
                    log.info(
                        "\(name) exited; other processes of its process group are still running: sent them SIGTERM, waiting up to \(config.stopGrace.clean)s (ENTRYPOINT_STOP_GRACE)"
                    )
                    signalApp(SIGTERM)
                } else if !restTold {
                    restTold = true
                    log.info("\(name) exited; waiting for the rest of its process group (at most until its \(config.stopGrace.clean)s grace ends)")
                }
            }
            enforceGrace()
            var wake = nextTick ?? now + 3600
            if let start = stopStart, killedAt == nil { wake = min(wake, start + config.stopGrace) }
            // The rest of the group are not always our children: polled.
            if childStatus != nil { wake = min(wake, now + 0.05) }
            if let sig = waitForSignal(wake - now), sig != SIGCHLD { forward(sig) }
            reap()
            if let tick = nextTick, let interval = config.backupInterval, Clock.now() >= tick {
                periodicBackup()
                nextTick = max(tick + interval, Clock.now() + min(interval, 1))
            }
        }
    }

    /// At the end of the grace: SIGKILL to whatever of the app is left, with one line that says so.
    func enforceGrace() {
        guard killedAt == nil, let start = stopStart, Clock.now() >= start + config.stopGrace else { return }
        let childAlive = childStatus == nil
        guard childAlive || restAlive() else { return }
        killedAt = Clock.now()
        let grace = "\(config.stopGrace.clean)s grace (ENTRYPOINT_STOP_GRACE)"
        if childAlive {
            log.warning(
                "\(name) (pid \(child)) did not exit within its \(grace) after \(stopSignalAt != nil ? "the stop signal" : "it was told to stop"); killing its process group with SIGKILL"
            )
        } else {
            log.warning("processes of \(name)'s process group were still running at the end of its \(grace); killing them with SIGKILL")
        }
        signalApp(SIGKILL)
    }
}
