// The app's stack in the tests: Python's sqlite3 run as a subprocess, writing a database as an app does.
import Foundation

/// Runs a Python script with the database path as argv[1] (and `extra` after it); returns its status.
@discardableResult
public func app(_ script: String, _ db: String, _ extra: [String] = [], timeout: Double = 60) throws -> Int32 {
    try Spawned("/usr/bin/env", ["python3", "-c", script] + [db] + extra, env: ProcessInfo.processInfo.environment).finish(timeout: timeout).status
}

/// Runs a Python sqlite3 script (the app's stack) with `db` as argv[1]; returns its stdout.
@discardableResult
public func python(_ script: String, _ db: String, timeout: Double = 60) throws -> String {
    let r = try Spawned("/usr/bin/env", ["python3", "-c", script, db], env: ProcessInfo.processInfo.environment).finish(timeout: timeout)
    FileHandle.standardError.write(r.stderr)
    return String(decoding: r.stdout, as: UTF8.self)
}
