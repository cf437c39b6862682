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
    /// Local file system: cannot create the directory, read-only volume, disk full, fsync or rename failed.
    case localIO = 74
    /// Another start holds the restore lock for longer than ENTRYPOINT_LOCK_TIMEOUT.
    case lockTimeout = 75
    /// Backup refused: the remote file changed since the last restore (use --force).
    case conflict = 76
    /// Dropbox rejected the credentials (revoked/invalid refresh token, wrong app key or secret).
    case authRejected = 77
    case config = 78
    case notExecutable = 126
    case notFound = 127
}

/// An error with its exit code and a one-line message that names the cause.
public struct EntrypointError: Error, CustomStringConvertible, Sendable {
    public let code: ExitCode
    public let message: String
    /// Set for errors caused by a signal: the process exits with 128 + signal.
    public let signal: Int32?

    public init(_ code: ExitCode, _ message: String) {
        self.code = code
        self.message = message
        self.signal = nil
    }

    init(signal: Int32) {
        self.code = .software
        self.message = "stopped by \(signalName(signal)); the database was left as it was"
        self.signal = signal
    }

    public var description: String { message }

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
func localError(_ action: String, _ path: String, _ err: Int32) -> EntrypointError {
    var hint = ""
    switch err {
    case ENOSPC: hint = " (the volume is full)"
    case EROFS: hint = " (the volume is mounted read-only)"
    case EACCES, EPERM: hint = " (check the volume's owner and mode; Railway mounts volumes as root)"
    case EDQUOT: hint = " (disk quota exceeded)"
    default: break
    }
    return EntrypointError(.localIO, "cannot \(action) \(path): \(errnoText(err))\(hint)")
}
