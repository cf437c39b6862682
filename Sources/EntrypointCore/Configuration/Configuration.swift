// Configuration: read once from the environment into an immutable value, validated before any
// network call. Seed-compatible names (DROPBOX_*, RAILWAY_DB_PATH); every new setting is ENTRYPOINT_*.
import Glibc

/// Refresh-token credentials (app key + refresh token, with the app secret unless PKCE-issued).
public struct RefreshCredentials: Sendable, Equatable {
    public let appKey: String
    public let appSecret: String?
    public let refreshToken: String
}

public struct Configuration: Sendable {
    public enum Credentials: Sendable, Equatable {
        /// No Dropbox credentials at all: the restore is skipped.
        case none
        /// An access token, optionally with refresh credentials to renew it on a 401.
        case accessToken(String, refresh: RefreshCredentials?)
        /// Only refresh credentials: an access token is obtained first.
        case refresh(RefreshCredentials)

        var refreshCredentials: RefreshCredentials? {
            switch self {
            case .none: nil
            case .accessToken(_, let r): r
            case .refresh(let r): r
            }
        }
    }

    public let credentials: Credentials
    /// RAILWAY_DB_PATH: the database on the volume.
    public let localPath: String
    /// DROPBOX_DB_PATH: the file in Dropbox.
    public let remotePath: String
    /// DROPBOX_ROOT_NAMESPACE: the Dropbox-API-Path-Root sent with every call (Dropbox/PathRoot.swift).
    public let rootNamespace: RootNamespace?
    public let apiURL: String
    public let contentURL: String
    public let restorePolicy: RestorePolicy
    public let onUnavailable: UnavailablePolicy
    /// Seconds for the whole restore, across all retries.
    public let deadline: Double
    /// Seconds for --backup: ENTRYPOINT_DEADLINE when set, else an hour (an operator runs it by hand,
    /// no health check is waiting, and a large upload may take longer than a start may).
    public let backupDeadline: Double
    public let connectTimeout: Double
    /// Seconds below 1 KiB/s before a transfer counts as stalled.
    public let stallTimeout: Double
    public let keepCopies: Int
    public let lockTimeout: Double
    public let expandArguments: Bool
    public let logLevel: LogLevel
    /// Seconds between progress lines for large transfers.
    public let progressInterval: Double
    /// Transfers smaller than this log no progress lines.
    public let progressThreshold: UInt64
    /// Maximum attempts per request (5xx, 429, connection errors).
    public let maxAttempts: Int
    /// Seconds: first backoff delay and the cap.
    public let backoffBase: Double
    public let backoffCap: Double
    /// Bytes per upload request (backup mode); a single upload call up to this size.
    public let uploadChunk: Int
    /// Every secret value, so the logger can redact them.
    public let secrets: [String]
    /// ENTRYPOINT_BACKUP_INTERVAL: seconds between periodic backups while the app runs; nil = off.
    public let backupInterval: Double?
    /// ENTRYPOINT_BACKUP_ON_STOP: a last backup when the app stops.
    public let backupOnStop: Bool
    /// ENTRYPOINT_STOP_DEADLINE: seconds from the stop signal by which the stop backup must be done.
    public let stopDeadline: Double
    /// Where `stopDeadline` came from, for --check ("set", "RAILWAY_DEPLOYMENT_DRAINING_SECONDS=30 minus 2", "default").
    public let stopDeadlineSource: String
    /// ENTRYPOINT_HEARTBEAT_URL (a secret): requested after every periodic and stop backup.
    public let heartbeatURL: String?
    /// ENTRYPOINT_APP_USER: the user the app runs as (resolved at the start).
    public let appUser: AppUser.Spec?
    /// ENTRYPOINT_PASS_SECRETS: the app's environment keeps the Dropbox secrets.
    public let passSecrets: Bool
    /// ENTRYPOINT_STOP_GRACE: seconds from the stop signal the app may take to exit before SIGKILL.
    public let stopGrace: Double
    public let stopGraceSource: String
    /// ENTRYPOINT_BACKUP_RESERVE_MB in bytes: free space a snapshot must leave on the volume.
    public let backupReserve: UInt64
    /// Supervise instead of exec: periodic or on-stop backups are on (and there are credentials to back up with).
    public var supervises: Bool { (backupInterval != nil || backupOnStop) && credentials != .none }

    public static let defaultLocalPath = "/app/data/database/production.db"
    public static let defaultRemotePath = "/database.db"
    public static let defaultAPIURL = "https://api.dropboxapi.com"
    public static let defaultContentURL = "https://content.dropboxapi.com"
    public static let defaultDeadline = 240.0
    public static let defaultStopDeadline = StopSettings.defaultDeadline

    /// Parses and validates the environment. Throws a `.config` error naming the variable.
    public init(environment env: [String: String]) throws(EntrypointError) {
        var secrets: [String] = []
        func secret(_ name: String) throws(EntrypointError) -> String? {
            let value = try Self.readSecret(name, env)
            if let value { secrets.append(value) }
            return value
        }
        credentials = try Self.credentials(secret)
        heartbeatURL = try Self.heartbeatURL(env)
        if let heartbeatURL { secrets.append(heartbeatURL) }
        self.secrets = secrets
        appUser = try Self.appUser(env)
        passSecrets = try Self.flag("ENTRYPOINT_PASS_SECRETS", env, default: false)

        localPath = try Self.localPath(env["RAILWAY_DB_PATH"].nonEmpty ?? Self.defaultLocalPath)
        remotePath = try Self.remotePath(env["DROPBOX_DB_PATH"].nonEmpty ?? Self.defaultRemotePath)
        rootNamespace = try RootNamespace.setting(env["DROPBOX_ROOT_NAMESPACE"].nonEmpty)
        apiURL = try Self.baseURL("DROPBOX_API_URL", env["DROPBOX_API_URL"].nonEmpty ?? Self.defaultAPIURL)
        contentURL = try Self.baseURL("DROPBOX_CONTENT_URL", env["DROPBOX_CONTENT_URL"].nonEmpty ?? Self.defaultContentURL)

        restorePolicy = try Self.choice("ENTRYPOINT_RESTORE_MODE", env, default: .replace)
        onUnavailable = try Self.choice("ENTRYPOINT_ON_UNAVAILABLE", env, default: .auto)
        deadline = try Self.seconds("ENTRYPOINT_DEADLINE", env, default: Self.defaultDeadline, range: 1...86_400)
        backupDeadline = env["ENTRYPOINT_DEADLINE"].nonEmpty == nil ? 3600 : deadline
        connectTimeout = try Self.seconds("ENTRYPOINT_CONNECT_TIMEOUT", env, default: 10, range: 0.1...600)
        stallTimeout = try Self.seconds("ENTRYPOINT_STALL_TIMEOUT", env, default: 30, range: 1...3600)
        lockTimeout = try Self.seconds("ENTRYPOINT_LOCK_TIMEOUT", env, default: 120, range: 0...86_400)
        progressInterval = try Self.seconds("ENTRYPOINT_PROGRESS_INTERVAL", env, default: 5, range: 0.1...3600)
        keepCopies = try Self.integer("ENTRYPOINT_KEEP_COPIES", env, default: 3, range: 0...1000)
        maxAttempts = try Self.integer("ENTRYPOINT_MAX_ATTEMPTS", env, default: 6, range: 1...100)
        uploadChunk = try Self.uploadChunk(env)
        expandArguments = try Self.flag("ENTRYPOINT_EXPAND", env, default: true)
        let interval = try Self.duration("ENTRYPOINT_BACKUP_INTERVAL", env, default: 0, range: 1...(7 * 86_400), zeroAllowed: true)
        backupInterval = interval > 0 ? interval : nil
        backupOnStop = try Self.flag("ENTRYPOINT_BACKUP_ON_STOP", env, default: false)
        backupReserve = UInt64(try Self.integer("ENTRYPOINT_BACKUP_RESERVE_MB", env, default: 16, range: 0...1_000_000)) << 20
        let stop = try StopSettings.parse(env, backupOnStop: backupOnStop)
        stopDeadline = stop.deadline
        stopDeadlineSource = stop.deadlineSource
        stopGrace = stop.grace
        stopGraceSource = stop.graceSource
        logLevel = try Self.logLevel(env)
        // Test hooks, undocumented for operators: shorter backoff so fault tests run fast.
        backoffBase = try Self.seconds("ENTRYPOINT_BACKOFF_BASE", env, default: 0.5, range: 0.001...60)
        backoffCap = try Self.seconds("ENTRYPOINT_BACKOFF_CAP", env, default: 8, range: 0.001...300)
        progressThreshold = UInt64(try Self.integer("ENTRYPOINT_PROGRESS_THRESHOLD_MB", env, default: 16, range: 0...1_000_000)) << 20
    }
}
