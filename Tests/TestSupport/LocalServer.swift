// A server the tests run on loopback (the fake Dropbox, the heartbeat receiver, the CONNECT proxy):
// a Python program that announces the port it listens on by writing it to a file, stopped and
// reaped when the LocalServer goes away.
import Foundation

public final class LocalServer: @unchecked Sendable {
    public let process: Spawned
    public let port: Int
    private var stopped = false

    /// Starts `python3 arguments...` and waits (at most 10 s) for the port it writes to `portFile`.
    /// Throws, the program stopped, when none arrives.
    public init(python arguments: [String], portFile: String, what: String) throws {
        process = try Spawned("/usr/bin/env", ["python3"] + arguments, env: ProcessInfo.processInfo.environment, capture: false)
        var port = 0
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let p = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), p > 0 {
                port = p
                break
            }
            usleep(50_000)
        }
        self.port = port
        guard port > 0 else {
            stop()
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "\(what) did not start (no port in \(portFile))"])
        }
    }

    /// SIGTERM, then reaped (SIGKILL after 5 s). Its port is closed when this returns.
    public func stop() {
        guard !stopped else { return }
        stopped = true
        kill(process.pid, SIGTERM)
        _ = process.finish(timeout: 5)
    }

    deinit { stop() }
}
