// The binary under test run as a subprocess, with the secret-leak check on everything it printed.
import Foundation
public import Testing

public struct RunResult {
    public let status: Int32
    public let stdout: String
    public let stderr: String
    public let pid: Int32
    public var output: String { stdout + stderr }

    public init(status: Int32, stdout: String, stderr: String, pid: Int32) {
        self.status = status
        self.stdout = stdout
        self.stderr = stderr
        self.pid = pid
    }
}

/// Runs the binary with exactly `env` (plus PATH), and checks that no secret leaked into its output.
public final class Runner: @unchecked Sendable {
    public let child: Spawned

    public init(_ arguments: [String], env: [String: String]) throws {
        var environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "ENTRYPOINT_BACKOFF_BASE": "0.05", "ENTRYPOINT_BACKOFF_CAP": "0.2"]
        environment.merge(env) { _, new in new }
        child = try Spawned(Paths.binary, arguments, env: environment)
    }

    public var pid: Int32 { child.pid }

    public func wait(timeout: Double = 60, sourceLocation: SourceLocation = #_sourceLocation) -> RunResult {
        let r = child.finish(timeout: timeout)
        if r.timedOut { Issue.record("entrypoint did not finish within \(timeout)s", sourceLocation: sourceLocation) }
        let result = RunResult(
            status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self), stderr: String(decoding: r.stderr, as: UTF8.self),
            pid: child.pid)
        expectNoSecrets(in: result.output, sourceLocation: sourceLocation)
        return result
    }
}

@discardableResult
public func run(_ arguments: [String], env: [String: String], timeout: Double = 60, sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
    try Runner(arguments, env: env).wait(timeout: timeout, sourceLocation: sourceLocation)
}
