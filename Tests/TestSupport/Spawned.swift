// Process control for the tests: spawn a program with posix_spawn, read its output, reap it.
public import CShims
public import Foundation

/// Spawns a program with posix_spawn: pipes are O_CLOEXEC, so no other child (a fake server started by
/// a test running in parallel) can hold a write end open and keep a reader from seeing EOF.
public final class Spawned: @unchecked Sendable {
    public let pid: Int32  // pid_t
    private var outFD: Int32 = -1
    private var errFD: Int32 = -1

    public init(_ executable: String, _ arguments: [String], env: [String: String], capture: Bool = true) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var outPipe: [Int32] = [-1, -1]
        var errPipe: [Int32] = [-1, -1]
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if capture {
            guard ep_pipe_cloexec(&outPipe) == 0, ep_pipe_cloexec(&errPipe) == 0 else { throw CocoaError(.fileWriteUnknown) }
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        // Nothing but 0, 1 and 2 reaches the child: descriptors other tests leave open without
        // O_CLOEXEC (the test runner's own, Foundation's) would otherwise vary from one spawn to the next.
        guard ep_spawn_actions_closefrom(&actions, 3) == 0 else { throw CocoaError(.fileWriteUnknown) }
        let (rc, pid) = spawn(executable, arguments, env: env, actions: &actions)
        if capture {
            close(outPipe[1])
            close(errPipe[1])
        }
        guard rc == 0 else {
            throw NSError(domain: "spawn", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: "cannot spawn \(executable): \(String(cString: strerror(rc)))"])
        }
        self.pid = pid
        if capture {
            outFD = outPipe[0]
            errFD = errPipe[0]
        }
    }

    /// Reads both pipes to EOF and reaps the child; kills it after `timeout` seconds.
    public func finish(timeout: Double) -> (status: Int32, stdout: Data, stderr: Data, timedOut: Bool) {
        var out = Data()
        var err = Data()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        var fds = [outFD, errFD].filter { $0 >= 0 }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !fds.isEmpty {
            var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 && !timedOut {
                timedOut = true
                kill(pid, SIGKILL)
            }
            _ = poll(&polls, nfds_t(polls.count), Int32(max(10, min(left, 0.2) * 1000)))
            for p in polls where p.revents != 0 {
                let n = read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    if p.fd == outFD { out.append(contentsOf: buffer[0..<n]) } else { err.append(contentsOf: buffer[0..<n]) }
                } else {
                    close(p.fd)
                    fds.removeAll { $0 == p.fd }
                }
            }
        }
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { break }
            if Date() > deadline && !timedOut {
                timedOut = true
                kill(pid, SIGKILL)
            }
            usleep(5000)
        }
        let code: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (code, out, err, timedOut)
    }
}

/// posix_spawn of `executable` with `arguments`, `env` and the file `actions`: the child starts with
/// no signal blocked and every disposition default (the test runner's threads block signals). The
/// result is posix_spawn's (0 or an errno) and the child's pid.
public func spawn(_ executable: String, _ arguments: [String], env: [String: String], actions: inout posix_spawn_file_actions_t) -> (rc: Int32, pid: pid_t) {
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    let envp = env.map { strdup("\($0)=\($1)") } + [nil]
    defer {
        for p in argv { free(p) }
        for p in envp { free(p) }
    }
    var attr = posix_spawnattr_t()
    posix_spawnattr_init(&attr)
    defer { posix_spawnattr_destroy(&attr) }
    var empty = sigset_t()
    var all = sigset_t()
    sigemptyset(&empty)
    sigfillset(&all)
    posix_spawnattr_setsigmask(&attr, &empty)
    posix_spawnattr_setsigdefault(&attr, &all)
    posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
    var pid: pid_t = 0
    let rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
    return (rc, pid)
}
