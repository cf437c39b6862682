// What one run of any mode shares: the configuration, the log, the environment, the named
// deadline, and what is made from them: the Dropbox client, the volume's lock, the local database's
// size, the test hooks. The restore, the backup and the other modes each make one, so no mode
// borrows another mode's type for these.
import CShims
import Glibc

struct RunScope {
    let config: Configuration
    let log: Logger
    let environment: [String: String]
    let deadline: Deadline

    init(config: Configuration, log: Logger, environment: [String: String], deadline: Deadline) {
        self.config = config
        self.log = log
        self.environment = environment
        self.deadline = deadline
    }

    var db: String { config.localPath }
    var hooks: TestHooks { TestHooks(environment: environment) }

    /// Makes the DropboxClient (libcurl, CA bundle), bound to this run's deadline and naming it:
    /// only once a network call is really needed.
    func makeClient() throws(EntrypointError) -> DropboxClient {
        let ca = try CASource.resolve(environment: environment)
        log.debug("TLS trust: \(ca.description)")
        let curl = try Curl(caSource: ca, connectTimeout: config.connectTimeout, stallTimeout: config.stallTimeout)
        let client = DropboxClient(config: config, log: log, curl: curl, deadline: deadline.instant)
        client.deadlineName = deadline.description
        return client
    }

    /// Size of the local database, or nil when it does not exist. A directory is an error.
    func localSize() throws(EntrypointError) -> UInt64? {
        let db = db
        let st = try FileIO.operation("stat", db) { () throws(SystemError) in try FileIO.stat(db) }
        guard let st else { return nil }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw EntrypointError(.config, "RAILWAY_DB_PATH=\(db) exists but is not a regular file")
        }
        return UInt64(st.st_size)
    }

    /// The volume's lock (`<db>.entrypoint.lock`), waited for within ENTRYPOINT_LOCK_TIMEOUT and
    /// this run's deadline; its lines name this run's deadline.
    func lock() throws(EntrypointError) -> RestoreLock {
        try RestoreLock(database: db, timeout: config.lockTimeout, deadline: deadline, log: log)
    }
}

/// The test hooks, read from the environment at the point they name. Off unless a test sets them.
struct TestHooks {
    let environment: [String: String]

    /// ENTRYPOINT_TEST_CRASH_AT=<point>: SIGKILL this process at that point, as a power cut or an
    /// OOM kill would (the crash-safety tests).
    func crash(at point: String) {
        if environment["ENTRYPOINT_TEST_CRASH_AT"] == point { bestEffort("a test hook; kill of our own pid cannot fail", kill(getpid(), SIGKILL)) }
    }

    /// ENTRYPOINT_TEST_STOP_AT=<point>: SIGSTOP this process at that point, so a test can change the
    /// world (the database file under a read transaction) at an exact instant, then SIGCONT it.
    func pause(at point: String) {
        if environment["ENTRYPOINT_TEST_STOP_AT"] == point { bestEffort("a test hook; raise of a valid signal cannot fail", raise(SIGSTOP)) }
    }

    /// ENTRYPOINT_TEST_HANG_AT=<point>: hang at that point, deaf to SIGTERM, as a process stuck in a
    /// system call would, so only SIGKILL ends it (the supervisor's last resort).
    func hang(at point: String) {
        guard environment["ENTRYPOINT_TEST_HANG_AT"] == point else { return }
        bestEffort("a test hook; SIG_ERR is only for an invalid signal number", Glibc.signal(SIGTERM, SIG_IGN))
        while true { bestEffort("a test hook that hangs until SIGKILL", sleep(1)) }
    }

    /// ENTRYPOINT_TEST_SIGNAL_AT=<point>[:SIGINT]: a stop signal to this process at that point.
    func signal(at point: String) { Exec.testSignal(point, environment) }
}
