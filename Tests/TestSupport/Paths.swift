// Where the tests find the repository, the fake Dropbox, the binary under test and the test CA.
import Foundation

public enum Paths {
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    public static let fake = repository + "/Tests/fake-dropbox"

    /// The binary under test: ENTRYPOINT_BINARY (e.g. the static dist/entrypoint) or the one built beside the tests.
    public static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["ENTRYPOINT_BINARY"], !path.isEmpty { return path }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var dir = exe.deletingLastPathComponent()
        // .build/debug/entrypointPackageTests.xctest is a file on Linux; the binary sits beside it.
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("entrypoint").path
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDir), !isDir.boolValue { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return repository + "/.build/debug/entrypoint"
    }()

    /// The test CA and server certificate, made once per run by make_certs.sh.
    public static let certs: String = {
        let dir = NSTemporaryDirectory() + "entrypoint-test-certs"
        if let child = try? Spawned("/bin/bash", [fake + "/make_certs.sh", dir], env: ProcessInfo.processInfo.environment) {
            _ = child.finish(timeout: 60)
        }
        return dir
    }()
}
