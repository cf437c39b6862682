// The stop sequence's two settings, read with the rest of the configuration: ENTRYPOINT_STOP_DEADLINE
// (by when the last backup must be done) and ENTRYPOINT_STOP_GRACE (how long the app may take to
// exit before SIGKILL), checked against Railway's draining window (docs/configuration.md).
import Glibc

struct StopSettings: Equatable {
    /// Seconds from the first stop signal (or the app's own exit) by which everything is done.
    let deadline: Double
    /// Where `deadline` came from, for --check ("set", "RAILWAY_DEPLOYMENT_DRAINING_SECONDS=30 minus 2s", "default").
    let deadlineSource: String
    /// Seconds from the same instant the app (its process group, re-parented processes) may take to exit.
    let grace: Double
    /// "set", or how the default was derived.
    let graceSource: String

    static let defaultDeadline = 30.0
    /// Seconds kept free before Railway's SIGKILL at the end of RAILWAY_DEPLOYMENT_DRAINING_SECONDS.
    static let drainingMargin = 2.0

    /// RAILWAY_DEPLOYMENT_DRAINING_SECONDS when it is a number greater than 0 (else nil: not on Railway,
    /// or no draining, where nothing can be checked).
    static func draining(_ env: [String: String]) -> (raw: String, seconds: Double)? {
        guard let raw = env["RAILWAY_DEPLOYMENT_DRAINING_SECONDS"].nonEmpty, let value = Double(raw), value.isFinite, value > 0 else { return nil }
        return (raw, value)
    }

    static func parse(_ env: [String: String], backupOnStop: Bool) throws(EntrypointError) -> StopSettings {
        let deadline: Double
        let source: String
        let draining = draining(env)
        let fromDraining = draining.map { max(1, $0.seconds - drainingMargin) }
        if env["ENTRYPOINT_STOP_DEADLINE"].nonEmpty != nil {
            deadline = try Configuration.duration("ENTRYPOINT_STOP_DEADLINE", env, default: defaultDeadline, range: 1...86_400, zeroAllowed: false)
            source = "set"
            // Railway SIGKILLs at the end of the draining window: a longer deadline would be cut off there.
            if let draining, let limit = fromDraining, deadline > limit {
                throw EntrypointError(
                    .config,
                    "ENTRYPOINT_STOP_DEADLINE=\(env["ENTRYPOINT_STOP_DEADLINE"]!) is longer than Railway's draining window allows (RAILWAY_DEPLOYMENT_DRAINING_SECONDS=\(draining.raw), minus \(drainingMargin.clean)s to exit before its SIGKILL): set it to at most \(limit.clean)s, unset it (the default follows the window), or raise drainingSeconds"
                )
            }
        } else if let draining, let limit = fromDraining {
            deadline = limit
            source = "RAILWAY_DEPLOYMENT_DRAINING_SECONDS=\(draining.raw) minus \(drainingMargin.clean)s"
        } else {
            deadline = defaultDeadline
            source = "default"
        }
        let grace: Double
        let graceSource: String
        if let raw = env["ENTRYPOINT_STOP_GRACE"].nonEmpty {
            grace = try Configuration.duration("ENTRYPOINT_STOP_GRACE", env, default: 0, range: 0...86_400, zeroAllowed: true)
            graceSource = "set"
            guard grace < deadline || (!backupOnStop && grace <= deadline) else {
                throw EntrypointError(
                    .config,
                    "ENTRYPOINT_STOP_GRACE=\(raw) leaves no time of the \(deadline.clean)s stop deadline (ENTRYPOINT_STOP_DEADLINE) for the stop backup: set it below \(deadline.clean)s"
                )
            }
        } else if backupOnStop {
            // Half for the app, half for the stop backup (one snapshot and one upload).
            grace = deadline / 2
            graceSource = "half the stop deadline"
        } else {
            grace = deadline
            graceSource = "the stop deadline: no stop backup"
        }
        return StopSettings(deadline: deadline, deadlineSource: source, grace: grace, graceSource: graceSource)
    }
}
