// Replacing this process with the wrapped command: PATH search as execvp does it, every signal
// disposition and the signal mask reset without losing a stop signal, output flushed, then execve
// with the same environment.
import CShims
import Glibc

public enum Exec {
    /// The default search path when PATH is unset (glibc's confstr(_CS_PATH)).
    static let defaultPath = "/bin:/usr/bin"

    /// Candidate paths for `name`, in execvp's order: as given when it contains a slash, else each PATH entry.
    public static func candidates(for name: String, path: String?) -> [String] {
        if name.contains("/") { return [name] }
        let search = path ?? defaultPath
        return search.split(separator: ":", omittingEmptySubsequences: false).map { dir in
            dir.isEmpty ? name : (dir.hasSuffix("/") ? "\(dir)\(name)" : "\(dir)/\(name)")
        }
    }

    /// Hands the signals over to the command without losing a stop request: steps 1 to 4 of
    /// `Signals.prepareHandOver` (docs/design.md, "Signals before exec"), with the test hooks
    /// `exec-start`, `exec-blocked` and `exec-reset` around them. Then `replaceProcess` unblocks
    /// (`Signals.handOver`) just before execve. Returns the signal error to stop with, or nil.
    static func prepareSignals(environment: [String: String]) -> EntrypointError? {
        testSignal("exec-start", environment)
        return Signals.prepareHandOver { testSignal("exec-\($0)", environment) }
    }

    /// Test hook (like ENTRYPOINT_TEST_CRASH_AT): ENTRYPOINT_TEST_SIGNAL_AT=<point> makes the process
    /// send itself SIGTERM at that point (`<point>:SIGINT` sends SIGINT, as a Ctrl-C would), as a
    /// platform stopping it would.
    static func testSignal(_ point: String, _ environment: [String: String]) {
        switch environment["ENTRYPOINT_TEST_SIGNAL_AT"] {
        case point: bestEffort("a test hook; kill of our own pid cannot fail", kill(getpid(), SIGTERM))
        case point + ":SIGINT": bestEffort("a test hook; kill of our own pid cannot fail", kill(getpid(), SIGINT))
        default: break
        }
    }

    /// Executes `command`; returns only on failure, with the error to exit with (126 or 127, or the
    /// signal error when a stop signal arrived before the exec).
    public static func replaceProcess(with command: [String], environment: [String: String]) -> EntrypointError {
        let name = command[0]
        guard !name.isEmpty else { return EntrypointError(.notFound, "cannot execute an empty command name") }
        if let stop = prepareSignals(environment: environment) { return stop }
        fflush(nil)

        let argv = command.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        // Just before the first execve: armed, then an empty mask for the command.
        if let error = Signals.handOver() { return error }
        var sawAccessDenied: (String, Int32)?
        var lastError: (String, Int32)?
        for candidate in candidates(for: name, path: environment["PATH"]) {
            bestEffort("execve returns only on failure (-1); errno says why", execve(candidate, argv, environ))
            let err = errno
            switch err {
            case EACCES, EPERM, EISDIR:
                if sawAccessDenied == nil { sawAccessDenied = (candidate, err) }
            case ENOEXEC:
                // execvp runs a file without a #! line with the shell.
                let shArgv = ([strdup("/bin/sh"), strdup(candidate)] + command.dropFirst().map { strdup($0) }) + [nil]
                bestEffort("execve returns only on failure (-1)", execve("/bin/sh", shArgv, environ))
                for p in shArgv { free(p) }
                lastError = (candidate, ENOEXEC)
            case ENOENT, ENOTDIR, ESTALE, ENODEV, ETIMEDOUT, ELOOP, ENAMETOOLONG:
                continue
            default:
                lastError = (candidate, err)
            }
            if lastError != nil && lastError!.1 != ENOEXEC { break }
        }
        if let (path, err) = sawAccessDenied {
            let detail =
                FileIO.statIfPresent(path).map { ($0.st_mode & S_IFMT) == S_IFDIR } == true
                ? "it is a directory" : errnoText(err).lowercased()
            return EntrypointError(.notExecutable, "cannot execute \(path): \(detail)")
        }
        if let (path, err) = lastError {
            return EntrypointError(.notExecutable, "cannot execute \(path): \(errnoText(err))")
        }
        if name.contains("/") {
            return EntrypointError(.notFound, "cannot execute \(name): no such file")
        }
        return EntrypointError(.notFound, "\(name): command not found (searched PATH=\(environment["PATH"] ?? defaultPath))")
    }
}
