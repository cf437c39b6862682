// The integration tests' world: a fake Dropbox, a volume directory and the environment pointing at
// both. The fake's process control, the SQLite fixtures, the binary runner and the secret-leak check
// live in the shared TestSupport target (Tests/TestSupport).
import Foundation
import TestSupport
import Testing

func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

/// A test world: a fake Dropbox, a volume directory and the environment pointing at both.
final class World: @unchecked Sendable {
    let fake: FakeDropbox
    let volume = TempDir()
    let sources = TempDir()
    var remotePath = "/database.db"
    var db: String { volume.path + "/database/production.db" }

    init() throws { fake = try FakeDropbox() }

    func env(_ extra: [String: String] = [:], token: String? = Secrets.accessToken) -> [String: String] {
        var env = [
            "DROPBOX_API_URL": fake.url, "DROPBOX_CONTENT_URL": fake.url,
            "SSL_CERT_FILE": Paths.certs + "/ca.pem", "RAILWAY_DB_PATH": db, "DROPBOX_DB_PATH": remotePath,
        ]
        if let token { env["DROPBOX_ACCESS_TOKEN"] = token }
        env.merge(extra) { _, new in new }
        return env
    }

    var refreshEnv: [String: String] {
        ["DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_APP_SECRET": Secrets.appSecret, "DROPBOX_REFRESH_TOKEN": Secrets.refreshToken]
    }

    /// Makes a SQLite database with `rows` and publishes it as the newest remote revision.
    @discardableResult
    func publish(_ rows: [String], padding: Int = 0, at path: String? = nil) throws -> String {
        let file = sources.file("rev-\(UUID().uuidString.prefix(8)).db")
        try DB.make(file, rows: rows, padding: padding)
        try fake.publish(path ?? remotePath, file)
        return file
    }

    /// A database on the volume with `rows` that was never restored or uploaded: no record.
    func localDatabase(_ rows: [String]) throws {
        try FileManager.default.createDirectory(atPath: volume.path + "/database", withIntermediateDirectories: true)
        try DB.make(db, rows: rows)
    }

    /// Dropbox's file holds `base`, a start restores it, then the app writes `row`: a change of this
    /// volume's that is not in Dropbox yet.
    func restoredThenWritten(_ row: String, padding: Int = 0) throws {
        try publish(["base"], padding: padding)
        let r = try run([], env: env())
        #expect(r.status == 0, "\(r.output)")
        try DB.sql(db, "INSERT INTO items VALUES ('\(row)')")
    }

    func publishRaw(_ data: Data) throws -> String {
        let file = sources.file("raw-\(UUID().uuidString.prefix(8))")
        try data.write(to: URL(fileURLWithPath: file))
        try fake.publish(remotePath, file)
        return file
    }

    /// Files in the database directory other than the database itself, its record, lock and base
    /// (temporaries, copies, sidecars).
    func leftovers() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: volume.path + "/database")) ?? []
        let kept = ["production.db", "production.db.entrypoint.json", "production.db.entrypoint.lock", "production.db.entrypoint-base"]
        return names.filter { !kept.contains($0) }.sorted()
    }
}

// Helpers several suites share.

/// Waits until `condition` holds, polling every 50 ms, at most `timeout` seconds.
@discardableResult
func eventually(_ timeout: Double = 20, _ condition: () -> Bool) -> Bool {
    let end = Date().addingTimeInterval(timeout)
    while Date() < end {
        if condition() { return true }
        usleep(50_000)
    }
    return condition()
}

func fileText(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

/// The state letter of /proc/<pid>/stat and its parent pid, or nil when the process is gone.
func procState(_ pid: Int32) -> (state: Character, ppid: Int32)? {
    let text = fileText("/proc/\(pid)/stat")
    guard let close = text.lastIndex(of: ")") else { return nil }
    let fields = text[text.index(close, offsetBy: 2)...].split(separator: " ")
    guard fields.count > 1, let state = fields[0].first, let ppid = Int32(fields[1]) else { return nil }
    return (state, ppid)
}

/// Whether `parent` has a child process called `name` (the supervised app has started).
func childNamed(_ name: String, of parent: Int32) -> Bool {
    let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.compactMap { Int32($0) } ?? []
    return pids.contains { procState($0)?.ppid == parent && fileText("/proc/\($0)/comm").hasPrefix(name) }
}

/// Short backoff so the many retries of these tests stay quick; the behaviour does not depend on it.
let fast = ["ENTRYPOINT_BACKOFF_BASE": "0.05", "ENTRYPOINT_BACKOFF_CAP": "0.2"]

func savedRecord(_ w: World) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.db + ".entrypoint.json"))) as? [String: Any])
}

func countLines(_ text: String, containing needle: String) -> Int {
    text.split(separator: "\n").filter { $0.contains(needle) }.count
}

/// The app commits `rows` into items in `journalMode`. WAL: it is killed afterwards, leaving its -wal
/// and -shm (a crash, a redeploy); the other modes close cleanly, leaving what they leave.
func appCommits(_ rows: [String], to db: String, journalMode: String) throws {
    let end = journalMode == "WAL" ? "os._exit(0)" : "c.close()"
    let status = try app(
        """
        import sqlite3, sys, os
        c = sqlite3.connect(sys.argv[1])
        c.execute('PRAGMA journal_mode=\(journalMode)')
        c.execute('PRAGMA wal_autocheckpoint=0')
        for r in sys.argv[2:]:
            c.execute('INSERT INTO items VALUES (?)', (r,)); c.commit()
        \(end)
        """, db, rows)
    #expect(status == 0)
}

func lines(_ text: String, containing part: String) -> [Substring] {
    text.split(separator: "\n").filter { $0.contains(part) }
}

func record(_ w: World) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.db + ".entrypoint.json")))) as? [String: Any] ?? [:]
}

enum SQLiteSuffixes {
    static let all = ["-wal", "-shm", "-journal"]
}
