// The environment's values, parsed and checked one variable at a time: each helper names the
// variable in its error line (a `.config` error, exit 78).
extension Configuration {
    /// The Dropbox credentials: an access token, an app key + refresh token (+ secret), or none.
    /// `secret` reads NAME or NAME_FILE and records the value for redaction.
    static func credentials(_ secret: (String) throws(EntrypointError) -> String?) throws(EntrypointError) -> Credentials {
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
            throw EntrypointError(
                .config, "DROPBOX_APP_KEY is set but DROPBOX_REFRESH_TOKEN is not: set the refresh token, or unset the app key and use DROPBOX_ACCESS_TOKEN")
        case (nil, nil):
            if appSecret != nil {
                throw EntrypointError(.config, "DROPBOX_APP_SECRET is set but DROPBOX_APP_KEY and DROPBOX_REFRESH_TOKEN are not")
            }
        }
        if let token { return .accessToken(token, refresh: refreshCredentials) }
        if let refreshCredentials { return .refresh(refreshCredentials) }
        return .none
    }

    static func logLevel(_ env: [String: String]) throws(EntrypointError) -> LogLevel {
        guard let name = env["ENTRYPOINT_LOG_LEVEL"].nonEmpty else { return .info }
        guard let level = LogLevel(name: name) else {
            throw EntrypointError(.config, "ENTRYPOINT_LOG_LEVEL=\(name) is not one of debug, info, warning, error")
        }
        return level
    }

    /// ENTRYPOINT_UPLOAD_CHUNK_MB in bytes: a multiple of 4 MiB, at most 148 MiB.
    static func uploadChunk(_ env: [String: String]) throws(EntrypointError) -> Int {
        let chunkMB = try integer("ENTRYPOINT_UPLOAD_CHUNK_MB", env, default: 148, range: 4...148)
        guard chunkMB % 4 == 0 else {
            throw EntrypointError(.config, "ENTRYPOINT_UPLOAD_CHUNK_MB=\(chunkMB) is not a multiple of 4 (Dropbox upload sessions need 4 MiB multiples)")
        }
        return chunkMB << 20
    }

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
            throw EntrypointError(
                .config, "DROPBOX_DB_PATH=\(path) must start with / (a path in the Dropbox app folder, e.g. /database.db), id: or ns:<namespace id>/")
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
        guard
            !rest.utf8.contains(where: {
                $0 <= 0x20 || $0 >= 0x7F || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "#") || $0 == UInt8(ascii: "%")
            })
        else {
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
            guard !host.isEmpty,
                host.utf8.allSatisfy({
                    isHexDigit($0) || ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x41 && $0 <= 0x5A) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".")
                        || $0 == UInt8(ascii: "_")
                })
            else {
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
            throw EntrypointError(
                .config,
                "\(name)=\(raw) is not \(zero)a duration between \(formatDuration(range.lowerBound)) and \(formatDuration(range.upperBound)) (seconds, or with a unit: 90s, 5m, 1h)"
            )
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
}
