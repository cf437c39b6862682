// The program, as a checklist: parse → configure → restore → exec.
import CShims
import Glibc

public enum Entrypoint {
    /// Runs the program. On success with a command this never returns (the process is replaced).
    /// Returns the exit status otherwise. `log` is configured here from ENTRYPOINT_LOG_LEVEL.
    public static func run(arguments: [String], environment: [String: String], log: Logger) -> Int32 {
        let invocation: Invocation
        do throws(EntrypointError) {
            invocation = try Invocation(arguments: arguments)
        } catch {
            log.error(error.message)
            return error.exitStatus
        }
        switch invocation.mode {
        case .help:
            print(Invocation.usage)
            return 0
        case .version:
            print("entrypoint \(Version.string)")
            return 0
        case .hash(let files):
            return HashMode.run(files, log: log)
        case .check:
            return configured(environment, log) { config in
                CheckMode(config: config, environment: environment, log: log).run()
            }
        case .backup(let force):
            return configured(environment, log) { config in
                ep_signals_install()
                do throws(EntrypointError) {
                    try BackupMode(config: config, force: force, environment: environment, log: log, automatic: invocation.automatic).run()
                    return 0
                } catch {
                    log.error(error.message)
                    return error.exitStatus
                }
            }
        case .run(let command):
            return configured(environment, log) { config in
                RunMode.run(command, invocation: invocation, config: config, environment: environment, log: log)
            }
        }
    }

    /// Reads and validates the configuration (ENTRYPOINT_LOG_LEVEL and the secrets go to `log`), then
    /// runs `body` with it; a configuration error is logged and its exit status returned.
    static func configured(_ environment: [String: String], _ log: Logger, _ body: (Configuration) -> Int32) -> Int32 {
        let config: Configuration
        do throws(EntrypointError) {
            config = try Configuration(environment: environment)
        } catch {
            log.error(error.message)
            return error.exitStatus
        }
        log.level = config.logLevel
        log.addSecrets(config.secrets)
        return body(config)
    }
}
