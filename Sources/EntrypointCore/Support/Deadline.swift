// The deadline of a run as a named value: the instant after which nothing more is attempted, its
// seconds, its name (the restore's, a backup's, the stop backup's...) and the setting that set it.
// Every line that names a deadline (the retry loop, the lock, the snapshot) prints `description`,
// so a backup never names the restore's deadline and a stop backup names the stop deadline.
// A backup worker gets its deadline from the supervisor through ENTRYPOINT_WORKER_DEADLINE
// (`<name>:<seconds>`), never by reinterpreting ENTRYPOINT_DEADLINE.

struct Deadline: CustomStringConvertible, Equatable, Sendable {
    enum Name: String, Sendable {
        case restore, backup, stop, download, revisions
    }

    let name: Name
    let seconds: Double
    /// Monotonic time (`Clock.now`) after which nothing more is attempted.
    let instant: Double
    /// What set it, as the lines show it: `ENTRYPOINT_DEADLINE`, `ENTRYPOINT_DEADLINE unset: an
    /// hour for --backup`, `what was left of ENTRYPOINT_STOP_DEADLINE`.
    let setting: String

    init(_ name: Name, seconds: Double, setting: String, from start: Double = Clock.now()) {
        self.name = name
        self.seconds = seconds
        self.setting = setting
        instant = start + seconds
    }

    /// `the 240s restore deadline (ENTRYPOINT_DEADLINE)`: every line that names this deadline.
    var description: String { "the \(seconds.clean)s \(name.rawValue) deadline (\(setting))" }

    /// ENTRYPOINT_DEADLINE (240 s by default): a start's restore, --check, --revisions.
    static func restore(_ config: Configuration, name: Name = .restore) -> Deadline {
        Deadline(name, seconds: config.deadline, setting: "ENTRYPOINT_DEADLINE")
    }

    /// ENTRYPOINT_DEADLINE when set, else an hour (`Configuration.backupDeadline`): --backup, --download.
    static func long(_ name: Name, _ config: Configuration, _ environment: [String: String]) -> Deadline {
        Deadline(name, seconds: config.backupDeadline, setting: longSetting(name, environment))
    }

    private static func longSetting(_ name: Name, _ environment: [String: String]) -> String {
        environment["ENTRYPOINT_DEADLINE"].nonEmpty != nil ? "ENTRYPOINT_DEADLINE" : "ENTRYPOINT_DEADLINE unset: an hour for --\(name.rawValue)"
    }

    // MARK: - a worker's deadline, given by the supervisor

    /// The variable the supervisor sets for each backup worker (`--backup --auto`) it starts.
    static let workerVariable = "ENTRYPOINT_WORKER_DEADLINE"

    /// The stop backup's: what is left of ENTRYPOINT_STOP_DEADLINE when it starts.
    static func stop(seconds: Double) -> Deadline {
        Deadline(.stop, seconds: seconds, setting: "what was left of ENTRYPOINT_STOP_DEADLINE")
    }

    /// The value of `workerVariable` that gives a worker this deadline: `stop:12.3`, `backup:3600`.
    var workerValue: String { "\(name.rawValue):\(seconds)" }

    /// A `--backup --auto` worker's deadline: the one the supervisor gave it in `workerVariable`
    /// (counted from now, the worker's own start), else `--backup`'s own.
    static func forWorker(_ config: Configuration, _ environment: [String: String]) throws(EntrypointError) -> Deadline {
        guard let value = environment[workerVariable].nonEmpty else { return long(.backup, config, environment) }
        let parts = value.split(separator: ":", maxSplits: 1).map(String.init)
        guard parts.count == 2, let seconds = Double(parts[1]), seconds.isFinite, seconds > 0 else {
            throw EntrypointError(
                .config, "\(workerVariable)=\(value) is not <name>:<seconds> (the supervisor sets it for its backup workers; do not set it yourself)")
        }
        switch parts[0] {
        case Name.stop.rawValue: return stop(seconds: seconds)
        case Name.backup.rawValue: return Deadline(.backup, seconds: seconds, setting: longSetting(.backup, environment))
        default:
            throw EntrypointError(
                .config,
                "\(workerVariable)=\(value): a worker's deadline is named stop or backup (the supervisor sets it for its backup workers; do not set it yourself)"
            )
        }
    }
}
