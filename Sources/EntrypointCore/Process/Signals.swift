// Signals, in one place: the stop set (defined once, in Sources/CShims/shims.c), the handler that
// records a stop signal until the exec and the checks of it, the hand-over before exec
// (docs/design.md, "Signals before exec"), the supervisor's reset, and the names in the operator's
// lines. Nothing else in Sources/EntrypointCore calls the shim's ep_signal* functions.
import CShims
import Glibc

enum Signals {
    /// The stop signals: SIGTERM, SIGINT, SIGHUP and SIGQUIT, in that order (the shim's list).
    static let stop: [Int32] = {
        var out = [Int32](repeating: 0, count: 8)
        let count = out.withUnsafeMutableBufferPointer { ep_stop_signals($0.baseAddress!, Int32($0.count)) }
        return Array(out.prefix(Int(count)))
    }()

    // MARK: - until the exec: a handler records, the code polls

    /// Installs the recording handler for the stop signals (without SA_RESTART, so a blocking call
    /// returns EINTR and its caller looks at `pending`), and ignores SIGPIPE (a dropped TLS
    /// connection is an error, not a kill). Every mode that talks to Dropbox or waits calls it first.
    static func install() { ep_signals_install() }

    /// The first stop signal recorded since `install`, 0 for none. Safe to read from any thread.
    static var pending: Int32 { ep_signal_pending() }

    /// Throws the recorded stop signal's error (`stopped by SIGTERM; the database was left as it
    /// was`, exit 128 + N); returns when there is none.
    static func throwIfPending() throws(EntrypointError) {
        let sig = pending
        if sig != 0 { throw EntrypointError(signal: sig) }
    }

    /// Blocks the stop signals for the calling thread only (a helper thread: they then go to the
    /// main thread, whose blocking calls they interrupt; the helper still sees them in `pending`).
    /// pthread_sigmask's result: 0, or the error number.
    static func blockStopOnThisThread() -> Int32 {
        var set = sigset_t()
        bestEffort("sigemptyset fails only for a null set", sigemptyset(&set))
        for sig in stop { bestEffort("sigaddset fails only for an invalid signal", sigaddset(&set, sig)) }
        return pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    // MARK: - the hand-over before exec

    /// Steps 1 to 4 of the hand-over (docs/design.md, "Signals before exec"). Until now the handler
    /// records a stop signal in a flag; the command must get default dispositions. A signal recorded
    /// after the last check of the flag and before the reset would be dropped, so:
    /// 1. block the stop signals: from here one that arrives stays pending in the kernel;
    /// 2. reset every disposition to SIG_DFL, the stop signals' to the recording handler (a pending
    ///    SIGTERM survives either: only "ignore" discards it);
    /// 3. check the flag: a handler that ran before the block (or, in another thread, before the reset);
    /// 4. check sigpending: a stop signal that arrived while blocked.
    /// `checkpoint` is called after step 1 with "blocked" and after step 4 with "reset" (test hooks).
    /// Returns the signal error to stop with, or nil; the stop signals are then still blocked, until
    /// `handOver()`.
    static func prepareHandOver(checkpoint: (String) -> Void) -> EntrypointError? {
        guard ep_signals_block_stop() == 0 else {
            return EntrypointError(.software, "cannot block signals before exec: \(errnoText(errno))")
        }
        checkpoint("blocked")
        ep_signals_reset_dispositions()
        let recorded = pending
        if recorded != 0 { return EntrypointError(signal: recorded) }
        let blocked = ep_signals_pending_stop()
        if blocked < 0 { return EntrypointError(.software, "cannot read the pending signals before exec: \(errnoText(errno))") }
        if blocked > 0 { return EntrypointError(signal: blocked) }
        checkpoint("reset")
        return nil
    }

    /// Step 5, just before the first execve: arm the handler, then unblock every signal (the command
    /// must inherit an empty mask). A stop signal from here on meets the armed handler, which writes
    /// one line and ends this process with 128 + N (PID 1 would discard it at SIG_DFL); execve
    /// resets the handler to SIG_DFL for the command. Returns the error when the unblock failed.
    static func handOver() -> EntrypointError? {
        ep_signals_arm_exit()
        guard ep_signals_unblock_all() == 0 else {
            return EntrypointError(.software, "cannot unblock signals before exec: \(errnoText(errno))")
        }
        return nil
    }

    // MARK: - under the supervisor

    /// Once the supervisor has blocked its signals: SIGCHLD back to SIG_DFL without SA_NOCLDWAIT (an
    /// inherited "ignore" makes the kernel reap the children itself), and every other signal inherited
    /// as ignored back to SIG_DFL (an ignored signal may be discarded before sigtimedwait), except
    /// SIGPIPE, SIGTTIN and SIGTTOU, which the supervisor ignores on purpose. Handlers are kept.
    static func resetForSupervision() { ep_signals_reset_for_supervision() }

    // MARK: - names

    /// The signal's name for the operator's lines: `SIGTERM`, or `signal 34` for one without a name here.
    static func name(_ sig: Int32) -> String {
        switch sig {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGHUP: "SIGHUP"
        case SIGQUIT: "SIGQUIT"
        case SIGUSR1: "SIGUSR1"
        case SIGUSR2: "SIGUSR2"
        case SIGWINCH: "SIGWINCH"
        case SIGKILL: "SIGKILL"
        case SIGCHLD: "SIGCHLD"
        case SIGSEGV: "SIGSEGV"
        case SIGABRT: "SIGABRT"
        default: "signal \(sig)"
        }
    }
}
