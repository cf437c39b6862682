// One line per event on stderr, readable in Railway's log view.
import Glibc

/// Log levels, lowest first.
public enum LogLevel: Int, Sendable, Comparable {
    case debug = 0
    case info, warning, error

    public static func < (a: LogLevel, b: LogLevel) -> Bool { a.rawValue < b.rawValue }

    init?(name: String) {
        switch name.lowercased() {
        case "debug": self = .debug
        case "info": self = .info
        case "warn", "warning": self = .warning
        case "error": self = .error
        default: return nil
        }
    }

    var label: String {
        switch self {
        case .debug: "debug: "
        case .info: ""
        case .warning: "warning: "
        case .error: "error: "
        }
    }
}

/// Writes `entrypoint: [level: ]message` lines to a file descriptor (stderr by default).
///
/// Every message passes through `redact` first: the values of all secrets the configuration
/// holds are replaced by `[REDACTED]`, so no token can reach the log even by accident.
public final class Logger: @unchecked Sendable {
    public var level: LogLevel
    private let fd: Int32
    private let colour: Bool
    private var secrets: [String] = []
    /// Everything written, for tests that inject a logger (`fd == -1`).
    public private(set) var captured: [String] = []

    public init(level: LogLevel = .info, fd: Int32 = 2) {
        self.level = level
        self.fd = fd
        self.colour = Self.colourAllowed(terminal: fd >= 0 && isatty(fd) == 1, noColor: getenv("NO_COLOR").map { String(cString: $0) })
    }

    /// no-color.org: a NO_COLOR with a non-empty value turns colour off; unset or empty allows it.
    /// Colour only ever goes to a terminal.
    static func colourAllowed(terminal: Bool, noColor: String?) -> Bool {
        terminal && (noColor ?? "").isEmpty
    }

    /// Registers secret values that must never appear in output.
    public func addSecrets(_ values: [String]) {
        for value in values where value.count >= 4 && !secrets.contains(value) { secrets.append(value) }
    }

    public func redact(_ text: String) -> String {
        var out = text
        for secret in secrets where out.contains(secret) {
            out = out.replacingAll(secret, with: "[REDACTED]")
        }
        return out
    }

    public func debug(_ message: @autoclosure () -> String) { log(.debug, message()) }
    public func info(_ message: @autoclosure () -> String) { log(.info, message()) }
    public func warning(_ message: @autoclosure () -> String) { log(.warning, message()) }
    public func error(_ message: @autoclosure () -> String) { log(.error, message()) }

    public func log(_ level: LogLevel, _ message: String) {
        guard level >= self.level else { return }
        let text = redact(message)
        var label = level.label
        if colour, level >= .warning {
            label = (level == .error ? "\u{1B}[31m" : "\u{1B}[33m") + label + "\u{1B}[0m"
        }
        write("entrypoint: " + label + text + "\n")
    }

    /// Writes raw text (already formatted) — used by the progress bar.
    public func write(_ text: String) {
        if fd < 0 {
            captured.append(text)
            return
        }
        var bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += n
        }
    }

    /// True when the log goes to a terminal (a live progress bar is then allowed).
    public var isTerminal: Bool { fd >= 0 && isatty(fd) == 1 }
}

extension String {
    /// Replaces every occurrence of `target` (non-empty) with `replacement`.
    func replacingAll(_ target: String, with replacement: String) -> String {
        let source = Array(self.utf8)
        let pattern = Array(target.utf8)
        guard !pattern.isEmpty, source.count >= pattern.count else { return self }
        var out: [UInt8] = []
        out.reserveCapacity(source.count)
        var i = 0
        while i < source.count {
            if i + pattern.count <= source.count && source[i] == pattern[0]
                && Array(source[i..<i + pattern.count]) == pattern
            {
                out.append(contentsOf: replacement.utf8)
                i += pattern.count
            } else {
                out.append(source[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
