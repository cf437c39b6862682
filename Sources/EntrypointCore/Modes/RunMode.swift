// The default mode: restore if needed, then exec the command (or exit 0 without one).
import CShims
import Glibc

enum RunMode {
    /// Returns the exit status when there is no exec: 0 without a command, the command's status
    /// under the supervisor. Throws what stops the start.
    static func run(_ command: [String], invocation: Invocation, config: Configuration, environment: [String: String], log: Logger) throws(EntrypointError)
        -> Int32
    {
        // Expand before restoring: an unset $PORT is a configuration error, found before any download.
        var finalCommand = command
        if !command.isEmpty && config.expandArguments && !invocation.noExpand
            && !Expansion.isShellCommandString(command)
        {
            finalCommand = try Expansion.expand(command, environment: environment)
        }
        Signals.install()
        let launch = finalCommand.isEmpty ? AppLaunch(passSecrets: true, user: nil) : try AppLaunch.resolve(config, log: log)
        let inSync = try restore(config: config, environment: environment, log: log)
        if let user = launch.user { try AppOwnership.give(config.localPath, to: user, log: log) }
        if !command.isEmpty { VolumeCheck.report(config, environment: environment, log: log) }
        // Periodic or on-stop backups: stay as the command's supervisor instead of exec'ing it.
        let supervisor =
            !finalCommand.isEmpty && config.supervises
            ? Supervisor(command: finalCommand, config: config, environment: environment, log: log, startsInSync: inSync) : nil
        if !finalCommand.isEmpty && !config.supervises && (config.backupInterval != nil || config.backupOnStop) {
            log.warning(
                "ENTRYPOINT_BACKUP_INTERVAL / ENTRYPOINT_BACKUP_ON_STOP are set but there are no Dropbox credentials: no backups; starting \(finalCommand[0]) without supervision"
            )
        }
        if !finalCommand.isEmpty && !config.supervises && config.heartbeatURL != nil {
            log.warning(
                "ENTRYPOINT_HEARTBEAT_URL is set but no backups run while \(finalCommand[0]) runs (no supervision: ENTRYPOINT_BACKUP_INTERVAL / ENTRYPOINT_BACKUP_ON_STOP and Dropbox credentials are needed), so no heartbeat will be sent"
            )
        }
        // From here a signal is queued for the supervisor, not only recorded.
        supervisor?.blockSignals()
        // A stop requested after the restore but before the exec is honoured, not lost.
        let pending = Signals.pending
        if pending != 0 {
            throw EntrypointError(signal: pending, message: "stopped by \(Signals.name(pending)) before \(finalCommand.first ?? "the command") was started")
        }
        guard !finalCommand.isEmpty else { return 0 }
        if let supervisor {
            supervisor.launch = launch
            return supervisor.run()
        }
        log.debug("exec \(finalCommand[0])")
        if let error = launch.apply() { throw error }
        let error = Exec.replaceProcess(with: finalCommand, environment: environment)
        if let sig = error.signal {
            // Checked again after the handlers were reset (Signals.prepareHandOver): not lost.
            throw EntrypointError(signal: sig, message: "stopped by \(Signals.name(sig)) before \(finalCommand[0]) was started")
        }
        throw error
    }

    /// Restores and applies the failure policy: returns to go on, throws to stop. Returns whether the
    /// local database is known to hold what Dropbox holds (RestoreOutcome.matchesDropbox).
    static func restore(config: Configuration, environment: [String: String], log: Logger) throws(EntrypointError) -> Bool {
        do throws(EntrypointError) {
            return try Restorer(config: config, log: log, environment: environment).run().matchesDropbox
        } catch {
            if error.signal != nil { throw error }
            let recoverable = error.isUnavailable || error.code == .badRemoteData
            guard recoverable else { throw error }
            let local = (FileIO.statIfPresent(config.localPath)?.st_size ?? 0) > 0
            switch config.onUnavailable {
            case .start:
                log.warning("\(error.message); starting anyway (ENTRYPOINT_ON_UNAVAILABLE=start)\(local ? " on the local database" : " without a database")")
                return false
            case .auto where local:
                log.warning("\(error.message); starting on the existing local database \(config.localPath), which may be out of date")
                return false
            case .auto:
                throw error.with(message: "\(error.message); no local database to start on, exiting so the platform retries")
            case .fail:
                throw error.with(message: "\(error.message) (ENTRYPOINT_ON_UNAVAILABLE=fail)")
            }
        }
    }
}
