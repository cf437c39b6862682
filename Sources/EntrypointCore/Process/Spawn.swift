// Starting the supervised command and the backup workers as children: fork, then in the child
// the same Exec.replaceProcess the exec path uses (PATH search, 126/127, every signal disposition
// reset and the mask cleared), so there is one implementation of "how the command is started".
// The process is single-threaded when it forks (the restore's threads have ended).
import CShims
import Glibc

enum Spawn {
    /// Starts `command` as a child in its own process group (as tini does), which takes over the
    /// terminal's foreground when there is one, so a terminal's Ctrl-C reaches it once.
    /// Returns the child's pid, or a negative value with errno set when fork failed.
    /// `launch` is applied in the child just before the exec (the secrets removed, the app's user).
    static func command(_ command: [String], environment: [String: String], launch: AppLaunch, log: Logger) -> pid_t {
        fflush(nil)
        let pid = fork()
        guard pid == 0 else { return pid }
        // The child. Its failure to start is logged here and is its exit status (126, 127).
        // Best effort in the child: without its own group the command still runs, in ours.
        bestEffort("the command still runs, in our process group", setpgid(0, 0))
        var ttou = sigset_t()
        sigemptyset(&ttou)
        sigaddset(&ttou, SIGTTOU)
        // tcsetpgrp from a background group would stop us; SIG_BLOCK of a valid set cannot fail.
        bestEffort("SIG_BLOCK of a valid signal set cannot fail", sigprocmask(SIG_BLOCK, &ttou, nil))
        if isatty(0) == 1 {
            bestEffort("without the foreground the command still runs; the terminal's Ctrl-C reaches us and is forwarded", tcsetpgrp(0, getpgrp()))
        }
        let error = launch.apply() ?? Exec.replaceProcess(with: command, environment: environment)
        let status = Entrypoint.report(error, log)
        fflush(nil)
        _exit(status)
    }

    /// The path of this binary for the workers: /proc/self/exe, or argv[0] when /proc is missing.
    static let selfPath: String = access("/proc/self/exe", X_OK) == 0 ? "/proc/self/exe" : (CommandLine.arguments.first ?? "entrypoint")

    /// Starts this binary as a backup worker (`--backup --auto`) with the same environment plus
    /// `overrides`. The worker has its own process group (a terminal's Ctrl-C does not abort it; the
    /// supervisor decides) and is killed with SIGKILL if the supervisor dies.
    static func worker(environment: [String: String], overrides: [String: String], log: Logger) -> pid_t {
        let parent = getpid()
        fflush(nil)
        let pid = fork()
        guard pid == 0 else { return pid }
        bestEffort("the worker still runs, in our process group", setpgid(0, 0))
        bestEffort("PR_SET_PDEATHSIG of SIGKILL cannot fail; the getppid check below covers the race", ep_set_parent_death_signal(SIGKILL))
        if getppid() != parent { _exit(128 + SIGKILL) }  // the supervisor died before prctl took effect
        var env = environment
        for (name, value) in overrides {
            guard setenv(name, value, 1) == 0 else {
                log.error("cannot start the backup worker: setenv \(name): \(errnoText(errno))")
                fflush(nil)
                _exit(ExitCode.software.rawValue)
            }
            env[name] = value
        }
        let error = Exec.replaceProcess(with: [selfPath, "--backup", "--auto"], environment: env)
        let status = Entrypoint.report(error.with(message: "cannot start the backup worker: " + error.message), log)
        fflush(nil)
        _exit(status)
    }

    /// The exit status for a waitpid status word: the code, or 128+N when signal N ended it.
    static func exitStatus(_ status: Int32) -> Int32 {
        let signal = status & 0x7F
        return signal == 0 ? (status >> 8) & 0xFF : 128 + signal
    }
}
