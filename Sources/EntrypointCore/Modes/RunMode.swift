// The default mode: restore if needed, then exec the command (or exit 0 without one).
import CShims
import Glibc

enum RunMode {
    static func run(_ command: [String], invocation: Invocation, config: Configuration, environment: [String: String], log: Logger) -> Int32 {
        // Expand before restoring: an unset $PORT is a configuration error, found before any download.
        var finalCommand = command
        if !command.isEmpty && config.expandArguments && !invocation.noExpand
            && !Expansion.isShellCommandString(command)
        {
            do throws(EntrypointError) {
                finalCommand = try Expansion.expand(command, environment: environment)
            } catch {
                log.error(error.message)
                return error.exitStatus
            }
        }
        ep_signals_install()
        var inSync = false
        if let status = restore(config: config, environment: environment, log: log, inSync: &inSync) { return status }
        // Periodic or on-stop backups: stay as the command's supervisor instead of exec'ing it.
        let supervisor = !finalCommand.isEmpty && config.supervises
            ? Supervisor(command: finalCommand, config: config, environment: environment, log: log, startsInSync: inSync) : nil
        if !finalCommand.isEmpty && !config.supervises && (config.backupInterval != nil || config.backupOnStop) {
            log.warning("ENTRYPOINT_BACKUP_INTERVAL / ENTRYPOINT_BACKUP_ON_STOP are set but there are no Dropbox credentials: no backups; starting \(finalCommand[0]) without supervision")
        }
        // From here a signal is queued for the supervisor, not only recorded.
        supervisor?.blockSignals()
        // A stop requested after the restore but before the exec is honoured, not lost.
        let pending = ep_signal_pending()
        if pending != 0 {
            log.error("stopped by \(signalName(pending)) before \(finalCommand.first ?? "the command") was started")
            return 128 + pending
        }
        guard !finalCommand.isEmpty else { return 0 }
        if let supervisor { return supervisor.run() }
        log.debug("exec \(finalCommand[0])")
        let error = Exec.replaceProcess(with: finalCommand, environment: environment)
        if let sig = error.signal {
            // Checked again after the handlers were reset (Exec.prepareSignals): not lost.
            log.error("stopped by \(signalName(sig)) before \(finalCommand[0]) was started")
            return 128 + sig
        }
        log.error(error.message)
        return error.exitStatus
    }

    /// Restores and applies the failure policy. Returns an exit status to stop with, or nil to go on.
    /// `inSync`: the local database is known to hold what Dropbox holds (RestoreOutcome.matchesDropbox).
    static func restore(config: Configuration, environment: [String: String], log: Logger, inSync: inout Bool) -> Int32? {
        do throws(EntrypointError) {
            inSync = try Restorer(config: config, log: log, environment: environment).run().matchesDropbox
            return nil
        } catch {
            if let sig = error.signal {
                log.error(error.message)
                return 128 + sig
            }
            let recoverable = error.isUnavailable || error.code == .badRemoteData
            guard recoverable else {
                log.error(error.message)
                return error.exitStatus
            }
            let local = (FileIO.statIfPresent(config.localPath)?.st_size ?? 0) > 0
            switch config.onUnavailable {
            case .start:
                log.warning("\(error.message); starting anyway (ENTRYPOINT_ON_UNAVAILABLE=start)\(local ? " on the local database" : " without a database")")
                return nil
            case .auto where local:
                log.warning("\(error.message); starting on the existing local database \(config.localPath), which may be out of date")
                return nil
            case .auto:
                log.error("\(error.message); no local database to start on, exiting so the platform retries")
                return error.exitStatus
            case .fail:
                log.error("\(error.message) (ENTRYPOINT_ON_UNAVAILABLE=fail)")
                return error.exitStatus
            }
        }
    }
}
