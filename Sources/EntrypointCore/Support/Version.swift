// What the binary is: its version and commit (injected at build time by scripts/build-static.sh into
// Sources/CShims/build_info.inc, no Foundation needed) and the libraries it runs with, asked of the
// libraries themselves at run time (a static binary carries the versions it was linked with).
import CCrypto
import CSQLite
import CShims

public enum Version {
    /// "0.1.0" unless the build set ENTRYPOINT_VERSION (scripts/release.sh does).
    public static let string = String(cString: ep_build_version())
    /// The git commit of the build, "-dirty" appended for a changed work tree; "unknown" otherwise.
    public static let commit = String(cString: ep_build_commit())

    /// `--version`: the version line first (scripts read it), then one `name  value` line each.
    static var report: String {
        let ssl = String(cString: ep_curl_ssl_version())
        return """
            entrypoint \(string)
            commit   \(commit)
            libcurl  \(String(cString: ep_curl_version()))\(ssl.isEmpty ? "" : " (\(ssl))")
            SQLite   \(String(cString: sqlite3_libversion()))
            OpenSSL  \(String(cString: OpenSSL_version(OPENSSL_VERSION)))
            """
    }
}
