// One error type: an exit code from a documented table and a one-line message for the operator.
import Glibc

/// The exit codes of `entrypoint` (docs/exit-codes.md). Success means exec happened, or 0 without a command.
public enum ExitCode: Int32, Sendable {
    case ok = 0
    case usage = 64
    /// The remote file failed verification (content hash, size, SQLite header, quick_check).
    case badRemoteData = 65
    /// The remote file does not exist and there is no local database to start on.
    case remoteMissing = 66
    /// Dropbox could not be reached or kept failing within the deadline, and there is no local database.
    case unavailable = 69
    case software = 70
    /// Cannot switch to ENTRYPOINT_APP_USER: unknown user or group, entrypoint is not root, or
    /// chown of the database's files, setgroups, setgid or setuid failed.
    case appUser = 71
    /// Local file system: cannot create the directory, read-only volume, disk full, fsync or rename failed.
    case localIO = 74
    /// Another start holds the restore lock for longer than ENTRYPOINT_LOCK_TIMEOUT.
    case lockTimeout = 75
    /// Backup refused: the remote file changed since the last restore (use --force).
    case conflict = 76
    /// Dropbox will not store more for this account: it is full (insufficient_space), or the
    /// team's monthly data transport (upload) calls are used up.
    case accountLimit = 72
    /// Dropbox refused the Dropbox-API-Path-Root (HTTP 422): the account's root namespace changed
    /// (invalid_root), or there is no access to the namespace (no_permission).
    case pathRoot = 73
    /// Dropbox rejected the credentials (revoked/invalid refresh token, wrong app key or secret).
    case authRejected = 77
    case config = 78
    /// --merge: merged, but some changes were set aside in the conflicts database.
    case mergeConflicts = 80
    /// A merge was refused (a schema changed, a table sessions cannot merge); nothing was changed.
    case mergeRefused = 81
    case notExecutable = 126
    case notFound = 127
}

/// An error with its exit code, a one-line message for the operator that names the cause, and that
/// cause as a typed value. Code decides on `code` and `cause`, never on `message` (which is only
/// ever written to the log, once, by `Entrypoint.report`).
public struct EntrypointError: Error, CustomStringConvertible, Sendable {
    /// What went wrong underneath, as a value.
    public enum Cause: Sendable, Equatable {
        /// Nothing underneath: the message is the whole story (a configuration value, a verification).
        case none
        /// A failed system call and its errno.
        case system(call: String, errno: Int32)
        /// A libcurl failure: its CURLcode, and the option when libcurl refused one.
        case curl(code: Int32, option: String?)
        /// Dropbox answered with an HTTP status; `summary` is its error_summary (or first line).
        case http(status: Int, summary: String)
        /// Dropbox's upload session is at this offset, not where we expected (409 incorrect_offset).
        case incorrectOffset(UInt64)
        /// ENTRYPOINT_DEADLINE (or the backup's deadline) was reached.
        case deadline
        /// A stop signal arrived: the process exits with 128 + signal.
        case signal(Int32)
        /// A streamed backup stopped its upload to give way to the app (Backup/CheckpointWatch.swift).
        case gaveWay
    }

    public let code: ExitCode
    public let message: String
    public let cause: Cause

    public init(_ code: ExitCode, _ message: String, cause: Cause = .none) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// A stop signal: `stopped by SIGTERM; <consequence>`.
    init(signal: Int32, consequence: String = "the database was left as it was") {
        self.init(signal: signal, message: "stopped by \(Signals.name(signal)); \(consequence)")
    }

    /// A stop signal with its own line.
    init(signal: Int32, message: String) {
        self.code = .software
        self.message = message
        self.cause = .signal(signal)
    }

    /// The same error (code and cause) with another line for the operator, e.g. with what happens next.
    func with(message: String) -> EntrypointError {
        EntrypointError(code, message, cause: cause)
    }

    public var description: String { message }

    /// Set for errors caused by a signal: the process exits with 128 + signal.
    public var signal: Int32? {
        if case .signal(let sig) = cause { return sig }
        return nil
    }

    /// The process exit status for this error.
    public var exitStatus: Int32 { signal.map { 128 + $0 } ?? code.rawValue }

    /// Whether this error means "Dropbox could not give us the file" (policy: start on the local copy).
    var isUnavailable: Bool { code == .unavailable || code == .remoteMissing }
}

/// `strerror` text for an errno value.
func errnoText(_ value: Int32) -> String {
    String(cString: strerror(value))
}

/// Maps an errno from a local file operation to an operator-facing error naming path and cause.
func localError(_ action: String, _ path: String, _ err: Int32, call: String = "") -> EntrypointError {
    EntrypointError(.localIO, "cannot \(action) \(path): \(errnoText(err))\(volumeHint(err))", cause: .system(call: call, errno: err))
}

/// What an errno of a local file operation says about the volume, as the end of a line ("" if nothing).
func volumeHint(_ err: Int32) -> String {
    switch err {
    case ENOSPC: " (the volume is full)"
    case EROFS: " (the volume is mounted read-only)"
    case EACCES, EPERM: " (check the volume's owner and mode; Railway mounts volumes as root)"
    case EDQUOT: " (disk quota exceeded)"
    default: ""
    }
}
