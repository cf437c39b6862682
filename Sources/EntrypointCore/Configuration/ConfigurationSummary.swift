// The effective configuration as `--check` and the debug log show it: every setting, secrets redacted.
extension Configuration {
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
            rows.append(
                (
                    "supervision",
                    credentials == .none
                        ? "off: no Dropbox credentials, so no backups; the command is exec'd"
                        : "on: the command runs as a child; entrypoint stays to forward signals, reap and back up"
                ))
        }
        return rows
    }
}
