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

/// A writer (Python's sqlite3) SIGKILLed in the middle of a big transaction whose pages it has
/// already spilled into the database file (`cache_size=10`): it leaves a hot journal. The database
/// needs the tables `items(name)` and `pad(b)`. Returns the writer's status (128 + SIGKILL).
@discardableResult
public func killWriterMidTransaction(_ db: String) throws -> Int32 {
    try app(
        """
        import sqlite3, sys, os
        c = sqlite3.connect(sys.argv[1], isolation_level=None)
        c.execute('PRAGMA cache_size=10')
        c.execute('BEGIN')
        c.execute("INSERT INTO items VALUES ('uncommitted')")
        for i in range(3000):
            c.execute('INSERT INTO pad VALUES (randomblob(3000))')
        os.kill(os.getpid(), 9)
        """, db)
}
