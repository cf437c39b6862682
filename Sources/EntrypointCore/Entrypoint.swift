// The program, as a checklist: parse → configure → restore → exec.
import CShims
import Glibc

public enum Entrypoint {
    /// Runs the program. On success with a command this never returns (the process is replaced).
    /// Returns the exit status otherwise. `log` is configured here from ENTRYPOINT_LOG_LEVEL.
    public static func run(arguments: [String], environment: [String: String], log: Logger) -> Int32 {
        do throws(EntrypointError) {
            return try dispatch(arguments: arguments, environment: environment, log: log)
        } catch {
            return report(error, log)
        }
    }

    /// The one place an error becomes the operator's line and the exit status (128 + N for a signal).
    static func report(_ error: EntrypointError, _ log: Logger) -> Int32 {
        log.error(error.message)
        return error.exitStatus
    }

    /// One exhaustive switch over the mode. Modes throw; `run` reports.
    static func dispatch(arguments: [String], environment: [String: String], log: Logger) throws(EntrypointError) -> Int32 {
        let invocation = try Invocation(arguments: arguments)
        switch invocation.mode {
        case .help:
            print(Invocation.usage)
            return 0
        case .version:
            print(Version.report)
            return 0
        case .hash(let files):
            return HashMode.run(files, log: log)
        case .merge(let base, let theirs, let into):
            Signals.install()
            return try MergeMode(base: base, theirs: theirs, into: into, log: log).run()
        case .authorize:
            try AuthorizeMode(environment: environment, log: log).run()
            return 0
        case .revisions:
            let config = try configured(environment, log)
            try RevisionsMode(config: config, environment: environment, log: log).run()
            return 0
        case .download(let rev, let file):
            let config = try configured(environment, log)
            Signals.install()
            try DownloadMode(rev: rev, file: file, config: config, environment: environment, log: log).run()
            return 0
        case .check:
            let config = try configured(environment, log)
            try CheckMode(config: config, environment: environment, log: log).run()
            return 0
        case .backup(let force, let automatic, let merge):
            let config = try configured(environment, log)
            Signals.install()
            try BackupMode(config: config, force: force, automatic: automatic, merge: merge, environment: environment, log: log).run()
            return 0
        case .run(let command):
            let config = try configured(environment, log)
            return try RunMode.run(command, invocation: invocation, config: config, environment: environment, log: log)
        }
    }

    /// Reads and validates the configuration; ENTRYPOINT_LOG_LEVEL and the secrets go to `log`.
    static func configured(_ environment: [String: String], _ log: Logger) throws(EntrypointError) -> Configuration {
        let config = try Configuration(environment: environment)
        log.level = config.logLevel
        log.addSecrets(config.secrets)
        return config
    }
}
