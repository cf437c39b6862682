import CSQLite
// `--version` names the build (version, commit) and the libraries the binary runs
// with, as the libraries themselves report them at run time.
import CShims
import Foundation
import TestSupport
import Testing

@Suite struct VersionTests {
    /// The binary's answer against the same libraries asked from this test process: the debug binary
    /// links the same shared libraries, the static one (ENTRYPOINT_BINARY) archives of the same
    /// Debian versions (scripts/build-static.sh builds libcurl from Debian's own source package).
    @Test func versionNamesTheBuildAndTheLinkedLibraries() throws {
        let r = try run(["--version"], env: [:])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        try #require(lines.count == 6 && lines[5].isEmpty, "\(r.stdout)")
        #expect(lines[0].wholeMatch(of: /entrypoint [0-9A-Za-z][0-9A-Za-z.+_-]*/) != nil, "\(lines[0])")
        #expect(lines[1].wholeMatch(of: /commit   ([0-9a-f]{7,64}(-dirty)?|unknown)/) != nil, "\(lines[1])")
        let ssl = String(cString: ep_curl_ssl_version())
        #expect(lines[2] == "libcurl  \(String(cString: ep_curl_version())) (\(ssl))")
        #expect(lines[3] == "SQLite   \(String(cString: sqlite3_libversion()))")
        // libcurl names its TLS library "OpenSSL/3.0.22"; OpenSSL_version says "OpenSSL 3.0.22 25 Aug 2026".
        let number = try #require(ssl.split(separator: "/").last.map(String.init), "\(ssl)")
        #expect(ssl.hasPrefix("OpenSSL/") && lines[4].hasPrefix("OpenSSL  OpenSSL \(number) "), "\(lines[4])")
    }

    /// A binary built by scripts/build-static.sh names the commit it was built from.
    @Test func theStaticBuildNamesItsCommit() throws {
        guard let binary = ProcessInfo.processInfo.environment["ENTRYPOINT_BINARY"], !binary.isEmpty else { return }
        let git = Process()
        git.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        git.arguments = ["git", "-C", Paths.repository, "rev-parse", "HEAD"]
        let pipe = Pipe()
        git.standardOutput = pipe
        try git.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        git.waitUntilExit()
        let head = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(git.terminationStatus == 0 && head.count == 40, "git rev-parse HEAD: \(head)")
        let r = try run(["--version"], env: [:])
        #expect(r.stdout.contains("\ncommit   \(head)"), "\(r.stdout) (HEAD \(head))")
    }
}
