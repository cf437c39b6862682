// As PID 1 of a container, a stop signal that arrives between the unblock and execve still stops
// the start: the kernel discards a default action for PID 1 (the command used to start anyway), so
// a handler acts on the signal until execve resets it.
import Foundation
import TestSupport
import Testing

@Suite struct Pid1SignalTests {
    /// Root with the right to make a PID namespace (not in an unprivileged container).
    static let canUnshare: Bool = {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") && (try? shell("unshare --pid --fork true")) == 0
    }()

    @Test(.enabled(if: canUnshare, "skipped: needs root and the right to make a PID namespace (unshare --pid)"))
    func aStopSignalJustBeforeTheExecIsNotLostAsPid1() throws {
        let dir = TempDir()
        let marker = dir.file("started")
        // In a new PID namespace entrypoint is PID 1; the hook sends SIGTERM after the last check.
        let p = try Spawned(
            "/usr/bin/unshare", ["--pid", "--fork", "--kill-child", Paths.binary, "sh", "-c", "touch '\(marker)'"],
            env: ["PATH": "/usr/bin:/bin", "ENTRYPOINT_TEST_SIGNAL_AT": "exec-reset"])
        let r = p.finish(timeout: 30)
        let stderr = String(decoding: r.stderr, as: UTF8.self)
        #expect(!FileManager.default.fileExists(atPath: marker), "the command must not start: \(stderr)")
        #expect(r.status == 128 + SIGTERM, "\(stderr)")
        #expect(stderr.contains("stopped by SIGTERM just before the command was started"), "\(stderr)")
    }
}
