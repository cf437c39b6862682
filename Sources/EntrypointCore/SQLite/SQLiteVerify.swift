// Verifying a downloaded file before it may replace anything.
import CSQLite
import Glibc

extension SQLite {

    /// Verifies a downloaded file before it may replace anything: the SQLite header, then
    /// `PRAGMA quick_check`, opened read-only and immutable (no sidecar files are created).
    /// A failure is `code` (a download: 65) and its line ends with `consequence`.
    static func verify(
        _ path: String, what: String, code: ExitCode = .badRemoteData, consequence: String = "nothing was installed"
    ) throws(EntrypointError) {
        guard hasHeader(path) else {
            throw EntrypointError(code, "\(what) is not a SQLite database (no \"SQLite format 3\" header); \(consequence)")
        }
        let connection: Connection
        do throws(EntrypointError) { connection = try verifyConnection(path) } catch {
            throw EntrypointError(code, "\(what) failed PRAGMA quick_check: \(error.message); \(consequence)")
        }
        try quickCheck(connection, what: what, code: code, consequence: consequence)
    }

    /// `PRAGMA quick_check` on an open connection (inside its transaction, if it has one): a failure,
    /// or an answer other than "ok", is `code` with one line ending in `consequence`.
    static func quickCheck(_ connection: Connection, what: String, code: ExitCode, consequence: String) throws(EntrypointError) {
        let result: [String]
        do throws(EntrypointError) { result = try connection.query("PRAGMA quick_check") } catch {
            throw EntrypointError(code, "\(what) failed PRAGMA quick_check: \(error.message); \(consequence)")
        }
        guard result == ["ok"] else {
            throw EntrypointError(code, "\(what) failed PRAGMA quick_check: \(quickCheckProblems(result)); \(consequence)")
        }
    }

    /// A failed quick_check's answer for one log line: its first problem and how many more. SQLite
    /// answers a row per problem, or (3.40) one row holding every problem on a line of its own
    /// after a "*** in database main ***" line: a hundred lines of the log for one failure.
    static func quickCheckProblems(_ rows: [String]) -> String {
        let problems = rows.flatMap { $0.split(whereSeparator: \.isNewline) }
            .filter { !$0.allSatisfy(\.isWhitespace) && !($0.hasPrefix("*** in database ") && $0.hasSuffix(" ***")) }
        guard let first = problems.first else { return "no result" }
        return first + (problems.count > 1 ? " (+\(problems.count - 1) more)" : "")
    }

    /// A `file:` URI for `path` (sqlite.org/uri.html). `file://x/...` would name the host `x`, which
    /// SQLite refuses, so an absolute path gets an explicit empty authority and its leading slashes
    /// collapsed to one (`//data/x.db` is `/data/x.db` on Linux): `file:///data/x.db`. A relative
    /// path never starts with `/`: `file:data/x.db`.
    static func fileURI(_ path: String) -> String {
        guard path.hasPrefix("/") else { return "file:" + uriEscape(path) }
        var absolute = Substring(path)
        while absolute.hasPrefix("//") { absolute = absolute.dropFirst() }
        return "file://" + uriEscape(String(absolute))
    }

    /// The connection `verify` checks through: read-only and immutable (no sidecar files, no locks),
    /// with `PRAGMA mmap_size` covering the file, so `quick_check` reads the pages straight from the
    /// page cache through a read-only map instead of copying each one into SQLite's page cache
    /// (docs/benchmarks.md measures the difference). Nothing is written through the map; the mapped
    /// pages are page cache, not the process's own memory. SQLite caps the size at its compile-time
    /// SQLITE_MAX_MMAP_SIZE (2 GiB by default) and reads the rest of a larger file as before.
    static func verifyConnection(_ path: String) throws(EntrypointError) -> Connection {
        let uri = fileURI(path) + "?mode=ro&immutable=1"
        let connection = try Connection(uri, flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI)
        if let size = FileIO.statIfPresent(path).map({ Int64($0.st_size) }), size > 0 {
            _ = try connection.query("PRAGMA mmap_size = \(size)")
        }
        return connection
    }

    /// A path for a `file:` URI: `?`, `#`, `%`, spaces, controls and non-ASCII bytes are escaped.
    static func uriEscape(_ path: String) -> String {
        percentEncode(path) { b in
            b > 0x20 && b < 0x7F && b != UInt8(ascii: "?") && b != UInt8(ascii: "#") && b != UInt8(ascii: "%")
        }
    }
}
