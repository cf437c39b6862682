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
        let token = try secret("DROPBOX_ACCESS_TOKEN")
        let key = try secret("DROPBOX_APP_KEY")
        let appSecret = try secret("DROPBOX_APP_SECRET")
        let refresh = try secret("DROPBOX_REFRESH_TOKEN")

        var refreshCredentials: RefreshCredentials?
        switch (key, refresh) {
        case (let k?, let r?):
            refreshCredentials = RefreshCredentials(appKey: k, appSecret: appSecret, refreshToken: r)
        case (nil, _?):
            throw EntrypointError(.config, "DROPBOX_REFRESH_TOKEN is set but DROPBOX_APP_KEY is not: the refresh needs the app key")
        case (_?, nil):
            throw EntrypointError(.config, "DROPBOX_APP_KEY is set but DROPBOX_REFRESH_TOKEN is not: set the refresh token, or unset the app key and use DROPBOX_ACCESS_TOKEN")
        case (nil, nil):
            if appSecret != nil {
                throw EntrypointError(.config, "DROPBOX_APP_SECRET is set but DROPBOX_APP_KEY and DROPBOX_REFRESH_TOKEN are not")
            }
        }
        if let token {
            credentials = .accessToken(token, refresh: refreshCredentials)
        } else if let refreshCredentials {
            credentials = .refresh(refreshCredentials)
        } else {
            credentials = .none
        }
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
        let chunkMB = try Self.integer("ENTRYPOINT_UPLOAD_CHUNK_MB", env, default: 148, range: 4...148)
        guard chunkMB % 4 == 0 else {
            throw EntrypointError(.config, "ENTRYPOINT_UPLOAD_CHUNK_MB=\(chunkMB) is not a multiple of 4 (Dropbox upload sessions need 4 MiB multiples)")
        }
        uploadChunk = chunkMB << 20
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
        if let name = env["ENTRYPOINT_LOG_LEVEL"].nonEmpty {
            guard let level = LogLevel(name: name) else {
                throw EntrypointError(.config, "ENTRYPOINT_LOG_LEVEL=\(name) is not one of debug, info, warning, error")
            }
            logLevel = level
        } else {
            logLevel = .info
        }
        // Test hooks, undocumented for operators: shorter backoff so fault tests run fast.
        backoffBase = try Self.seconds("ENTRYPOINT_BACKOFF_BASE", env, default: 0.5, range: 0.001...60)
        backoffCap = try Self.seconds("ENTRYPOINT_BACKOFF_CAP", env, default: 8, range: 0.001...300)
        progressThreshold = UInt64(try Self.integer("ENTRYPOINT_PROGRESS_THRESHOLD_MB", env, default: 16, range: 0...1_000_000)) << 20
    }

    // MARK: - parsing helpers

    /// Reads NAME or NAME_FILE (the Docker secrets convention). Empty counts as unset.
    static func readSecret(_ name: String, _ env: [String: String]) throws(EntrypointError) -> String? {
        let direct = env[name].nonEmpty
        let fileName = name + "_FILE"
        var value = direct
        if let path = env[fileName].nonEmpty {
            if direct != nil {
                throw EntrypointError(.config, "both \(name) and \(fileName) are set: set only one")
            }
            let contents: [UInt8]
            do throws(SystemError) {
                contents = try FileIO.readSmallFile(path, limit: 64 << 10)
            } catch {
                throw EntrypointError(.config, "\(fileName): cannot read \(path): \(error.message)")
            }
            let text = String(decoding: contents, as: UTF8.self).trimmingWhitespace()
            guard !text.isEmpty else { throw EntrypointError(.config, "\(fileName): \(path) is empty") }
            value = text
        }
        if let value {
            if value.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                throw EntrypointError(.config, "\(name) contains whitespace or control characters; check for a stray newline or quote")
            }
        }
        return value
    }

    static func localPath(_ path: String) throws(EntrypointError) -> String {
        guard !path.hasSuffix("/") else {
            throw EntrypointError(.config, "RAILWAY_DB_PATH=\(path) names a directory; it must name the database file")
        }
        guard !path.utf8.contains(0) else { throw EntrypointError(.config, "RAILWAY_DB_PATH contains a NUL byte") }
        return path
    }

    static func remotePath(_ path: String) throws(EntrypointError) -> String {
        guard path.hasPrefix("/") || path.hasPrefix("id:") || path.hasPrefix("ns:") else {
            throw EntrypointError(.config, "DROPBOX_DB_PATH=\(path) must start with / (a path in the Dropbox app folder, e.g. /database.db), id: or ns:<namespace id>/")
        }
        try RootNamespace.checkNamespacePath(path)
        guard path != "/" && !path.hasSuffix("/") else {
            throw EntrypointError(.config, "DROPBOX_DB_PATH=\(path) names a folder; it must name the database file")
        }
        guard !path.utf8.contains(where: { $0 < 0x20 }) else {
            throw EntrypointError(.config, "DROPBOX_DB_PATH contains control characters")
        }
        return path
    }

    /// The parts of a base URL (`scheme://host[:port][/path]`); the routes are appended to it.
    struct BaseURL: Equatable {
        let scheme: String
        /// As written: a name, a dotted quad, or a bracketed IPv6 literal (`[::1]`).
        let host: String
        let port: Int?
        let path: String

        /// `localhost`, a dotted quad in 127.0.0.0/8, or `[::1]`.
        var isLoopback: Bool {
            if host.lowercased() == "localhost" || host == "[::1]" { return true }
            let parts = host.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "127" else { return false }
            return parts.allSatisfy { part in
                // Decimal 0-255 without leading zeros (inet_aton would read those as octal).
                !part.isEmpty && part.count <= 3 && part.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
                    && (part == "0" || part.first != "0") && Int(part)! <= 255
            }
        }
    }

    /// Splits `value` into scheme, host, port and path, or says in a few words why it cannot.
    /// Refused: any user information (`user@`, `user:password@`), and characters with which URL
    /// parsers disagree about where the host ends (`\`, `?`, `#`, `%`, whitespace, controls).
    static func parseBaseURL(_ value: String) -> Result<BaseURL, URLProblem> {
        guard let sep = value.firstRange(of: "://") else { return .failure(.notHTTPS) }
        let scheme = String(value[..<sep.lowerBound])
        guard scheme == "https" || scheme == "http" else { return .failure(.notHTTPS) }
        let rest = value[sep.upperBound...]
        guard !rest.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: "%") }) else {
            return .failure(.badCharacter)
        }
        let authority = rest.firstIndex(of: "/").map { rest[..<$0] } ?? rest
        let path = String(rest[authority.endIndex...])
        guard !authority.contains("@") else { return .failure(.userinfo) }
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return .failure(.badHost) }
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return .failure(.badHost) }
                portText = after.dropFirst()
            }
            guard host.count > 2, host.dropFirst().dropLast().utf8.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") }) else {
                return .failure(.badHost)
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            guard !host.isEmpty, host.utf8.allSatisfy({ isHexDigit($0) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") }) else {
                return .failure(.badHost)
            }
        }
        var port: Int?
        if let portText {
            guard !portText.isEmpty, portText.count <= 5, portText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }),
                let p = Int(portText), (1...65535).contains(p)
            else { return .failure(.badPort) }
            port = p
        }
        return .success(BaseURL(scheme: scheme, host: String(host), port: port, path: path))
    }

    enum URLProblem: Error { case notHTTPS, badCharacter, userinfo, badHost, badPort }

    static func isHexDigit(_ b: UInt8) -> Bool {
        (b >= 48 && b <= 57) || (b >= 0x61 && b <= 0x66) || (b >= 0x41 && b <= 0x46)
    }

    /// A base URL (or, with `secret`, a URL that is a secret and never echoed): `https://host[:port][/path]`,
    /// plain http only for a loopback host, no user information; trailing `/` dropped. `characterNote`
    /// replaces the generic "not a base URL" reason for a refused character.
    static func baseURL(_ name: String, _ value: String, secret: Bool = false, characterNote: String? = nil) throws(EntrypointError) -> String {
        var url = value
        while url.hasSuffix("/") { url.removeLast() }
        let shown = secret ? name : "\(name)=\(value)"
        switch parseBaseURL(url) {
        case .failure(.userinfo):
            // Not echoed: the part before @ may be a password.
            throw EntrypointError(.config, "\(name) contains user information (a user name or password before @); it is not allowed, remove it")
        case .failure(.notHTTPS):
            throw EntrypointError(.config, "\(shown) is not an https:// URL")
        case .failure(.badCharacter):
            let rule = "may not contain spaces, control or non-ASCII characters, \\, ?, # or %"
            throw EntrypointError(.config, characterNote.map { "\(name) \(rule) (\($0))" } ?? "\(name) is not a base URL: it \(rule)")
        case .failure(.badHost):
            throw EntrypointError(.config, "\(shown) has no valid host name")
        case .failure(.badPort):
            throw EntrypointError(.config, "\(shown) has an invalid port (1 to 65535)")
        case .success(let parsed):
            if parsed.scheme == "http" && !parsed.isLoopback {
                throw EntrypointError(.config, "\(shown): plain http is allowed only for loopback addresses (127.x.x.x, [::1], localhost); use https")
            }
            return url
        }
    }

    static func choice<T: RawRepresentable & CaseIterable>(
        _ name: String, _ env: [String: String], default value: T
    ) throws(EntrypointError) -> T where T.RawValue == String {
        guard let raw = env[name].nonEmpty else { return value }
        guard let parsed = T(rawValue: raw.lowercased()) else {
            let options = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw EntrypointError(.config, "\(name)=\(raw) is not one of \(options)")
        }
        return parsed
    }

    static func seconds(
        _ name: String, _ env: [String: String], default value: Double, range: ClosedRange<Double>
    ) throws(EntrypointError) -> Double {
        guard let raw = env[name].nonEmpty else { return value }
        var text = raw
        if text.hasSuffix("s") { text.removeLast() }
        guard let parsed = Double(text), parsed.isFinite, range.contains(parsed) else {
            throw EntrypointError(.config, "\(name)=\(raw) is not a number of seconds between \(range.lowerBound.clean) and \(range.upperBound.clean)")
        }
        return parsed
    }

    /// A duration: a number of seconds, or with a unit (`90s`, `5m`, `1h`); fractions accepted.
    /// `0` means off when `zeroAllowed`; otherwise the value must lie in `range`.
    static func duration(
        _ name: String, _ env: [String: String], default value: Double, range: ClosedRange<Double>, zeroAllowed: Bool
    ) throws(EntrypointError) -> Double {
        guard let raw = env[name].nonEmpty else { return value }
        guard let parsed = parseDuration(raw), parsed.isFinite,
            (zeroAllowed && parsed == 0) || range.contains(parsed)
        else {
            let zero = zeroAllowed ? "0 (off) or " : ""
            throw EntrypointError(.config, "\(name)=\(raw) is not \(zero)a duration between \(formatDuration(range.lowerBound)) and \(formatDuration(range.upperBound)) (seconds, or with a unit: 90s, 5m, 1h)")
        }
        return parsed
    }

    /// `90`, `90s`, `1.5m`, `5m`, `1h` -> seconds; nil when it is not a duration.
    static func parseDuration(_ raw: String) -> Double? {
        var text = raw.lowercased()
        var unit = 1.0
        if let last = text.last, !last.isNumber {
            switch last {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            default: return nil
            }
            text.removeLast()
        }
        guard !text.isEmpty, text.first != "+", text.first != "-", let number = Double(text), number.isFinite else { return nil }
        return number * unit
    }

    /// Seconds as the operator writes them: `5m`, `1h`, `90s`, `1.5s`.
    public static func formatDuration(_ seconds: Double) -> String {
        if seconds >= 3600 && seconds.truncatingRemainder(dividingBy: 3600) == 0 { return "\(Int(seconds / 3600))h" }
        if seconds >= 60 && seconds.truncatingRemainder(dividingBy: 60) == 0 { return "\(Int(seconds / 60))m" }
        return seconds.clean + "s"
    }

    static func integer(
        _ name: String, _ env: [String: String], default value: Int, range: ClosedRange<Int>
    ) throws(EntrypointError) -> Int {
        guard let raw = env[name].nonEmpty else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw EntrypointError(.config, "\(name)=\(raw) is not a whole number between \(range.lowerBound) and \(range.upperBound)")
        }
        return parsed
    }

    static func flag(_ name: String, _ env: [String: String], default value: Bool) throws(EntrypointError) -> Bool {
        guard let raw = env[name].nonEmpty else { return value }
        switch raw.lowercased() {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw EntrypointError(.config, "\(name)=\(raw) is not one of 1, 0, true, false")
        }
    }

    /// The effective configuration with secrets redacted (check mode, debug log).
    public var redactedSummary: [(String, String)] {
        func shown(_ s: String?) -> String { s == nil ? "(not set)" : "(set, redacted)" }
        var rows: [(String, String)] = []
        switch credentials {
        case .none:
            rows.append(("credentials", "none (restore skipped)"))
        case .accessToken(_, let r):
            rows.append(("credentials", r == nil ? "access token" : "access token, refreshed with app key + refresh token"))
        case .refresh(let r):
            rows.append(("credentials", r.appSecret == nil ? "refresh token + app key (PKCE, no secret)" : "refresh token + app key + app secret"))
        }
        if case .accessToken = credentials { rows.append(("DROPBOX_ACCESS_TOKEN", "(set, redacted)")) }
        if let r = credentials.refreshCredentials {
            rows.append(("DROPBOX_APP_KEY", "(set, redacted)"))
            rows.append(("DROPBOX_APP_SECRET", shown(r.appSecret)))
            rows.append(("DROPBOX_REFRESH_TOKEN", "(set, redacted)"))
        }
        rows += [
            ("RAILWAY_DB_PATH", localPath), ("DROPBOX_DB_PATH", remotePath),
            ("DROPBOX_ROOT_NAMESPACE", RootNamespace.describe(rootNamespace)),
            ("DROPBOX_API_URL", apiURL), ("DROPBOX_CONTENT_URL", contentURL),
            ("ENTRYPOINT_RESTORE_MODE", restorePolicy.rawValue), ("ENTRYPOINT_ON_UNAVAILABLE", onUnavailable.rawValue),
            ("ENTRYPOINT_DEADLINE", deadline.clean + "s"), ("ENTRYPOINT_CONNECT_TIMEOUT", connectTimeout.clean + "s"),
            ("ENTRYPOINT_STALL_TIMEOUT", stallTimeout.clean + "s"), ("ENTRYPOINT_MAX_ATTEMPTS", String(maxAttempts)),
            ("ENTRYPOINT_KEEP_COPIES", String(keepCopies)), ("ENTRYPOINT_LOCK_TIMEOUT", lockTimeout.clean + "s"),
            ("ENTRYPOINT_EXPAND", expandArguments ? "1" : "0"),
            ("ENTRYPOINT_BACKUP_INTERVAL", backupInterval.map { Self.formatDuration($0) } ?? "off"),
            ("ENTRYPOINT_BACKUP_ON_STOP", backupOnStop ? "1" : "0"),
            ("ENTRYPOINT_STOP_DEADLINE", stopDeadline.clean + "s" + (stopDeadlineSource == "set" ? "" : " (\(stopDeadlineSource))")),
            ("ENTRYPOINT_BACKUP_RESERVE_MB", String(backupReserve >> 20)),
            ("ENTRYPOINT_STOP_GRACE", stopGrace.clean + "s" + (stopGraceSource == "set" ? "" : " (\(stopGraceSource))")),
        ]
        rows += operatorSummary
        if backupInterval != nil || backupOnStop {
            rows.append(("supervision", credentials == .none
                ? "off: no Dropbox credentials, so no backups; the command is exec'd"
                : "on: the command runs as a child; entrypoint stays to forward signals, reap and back up"))
        }
        return rows
    }
}
