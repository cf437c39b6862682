// Test harness: the fake Dropbox (Tests/fake-dropbox/fake_dropbox.py) over TLS with a test CA,
// SQLite fixtures made with the real library, and the built `entrypoint` run as a subprocess.
import CSQLite
import CShims
import Foundation
import Testing

enum Paths {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path
    static let fake = repository + "/Tests/fake-dropbox"

    /// The binary under test: ENTRYPOINT_BINARY (e.g. the static dist/entrypoint) or the one built beside the tests.
    static let binary: String = {
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
    static let certs: String = {
        let dir = NSTemporaryDirectory() + "entrypoint-test-certs"
        if let child = try? Spawned("/bin/bash", [fake + "/make_certs.sh", dir], env: ProcessInfo.processInfo.environment) {
            _ = child.finish(timeout: 60)
        }
        return dir
    }()
}

/// A temporary directory removed at deinit.
final class TempDir {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "ep-it-\(UUID().uuidString.prefix(8))"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
    func file(_ name: String) -> String { path + "/" + name }
}

/// The secrets every test configures; no output of any test may contain them.
enum Secrets {
    static let accessToken = "sl.TEST-ACCESS-1f3a9c"
    static let expiredToken = "sl.TEST-EXPIRED-77ab"
    static let appKey = "testappkey42"
    static let appSecret = "TEST-APP-SECRET-5e6f"
    static let refreshToken = "TEST-REFRESH-9d8c7b"
    static let pkceKey = "pkceappkey77"
    static let pkceRefresh = "TEST-PKCE-REFRESH-3a2b"
    static let issued = ["sl.TEST-ISSUED-A-1111", "sl.TEST-ISSUED-B-2222", "sl.TEST-ISSUED-C-3333"]
    static var all: [String] { [accessToken, expiredToken, appSecret, refreshToken, pkceRefresh] + issued }
}

final class FakeDropbox: @unchecked Sendable {
    let state = TempDir()
    let server: Spawned
    let port: Int
    var url: String { "https://127.0.0.1:\(port)" }
    var files: [String: [String]] = [:]
    var faults: [[String: Any]] = []
    var extra: [String: Any] = [:]

    init() throws {
        let certs = Paths.certs
        server = try Spawned(
            "/usr/bin/env",
            [
                "python3", Paths.fake + "/fake_dropbox.py", "--state", state.path,
                "--cert", certs + "/server.pem", "--key", certs + "/server.key", "--port", "0",
            ], env: ProcessInfo.processInfo.environment, capture: false)
        let portFile = state.file("port")
        var port = 0
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8),
                let p = Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
            {
                port = p
                break
            }
            usleep(50_000)
        }
        guard port > 0 else {
            kill(server.pid, SIGKILL)
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "the fake Dropbox did not start"])
        }
        self.port = port
        try write()
    }

    deinit {
        kill(server.pid, SIGTERM)
        var status: Int32 = 0
        waitpid(server.pid, &status, 0)
    }

    /// Rewrites config.json atomically (the fake re-reads it on change and resets fault counters).
    func write() throws {
        var config: [String: Any] = [
            "files": files,
            "access_tokens": [Secrets.accessToken],
            "expired_tokens": [Secrets.expiredToken],
            "apps": [Secrets.appKey: Secrets.appSecret, Secrets.pkceKey: NSNull()],
            "refresh_tokens": [
                Secrets.refreshToken: ["app_key": Secrets.appKey],
                Secrets.pkceRefresh: ["app_key": Secrets.pkceKey, "pkce": true],
            ],
            "issue_tokens": Secrets.issued,
            "faults": faults,
        ]
        config.merge(extra) { _, new in new }
        let data = try JSONSerialization.data(withJSONObject: config)
        let temp = state.file("config.json.tmp")
        try data.write(to: URL(fileURLWithPath: temp))
        _ = rename(temp, state.file("config.json"))
        usleep(20_000)  // mtime granularity
    }

    /// Serves `source` as the newest revision of `path`.
    func publish(_ path: String, _ source: String) throws {
        files[path, default: []].append(source)
        try write()
    }

    func fault(_ f: [String: Any]) throws {
        faults.append(f)
        try write()
    }

    func clearFaults() throws {
        faults = []
        try write()
    }

    /// Requests the fake has answered, oldest first. The fake appends a line just after it sends a
    /// response, so a client may exit before its last line is written: wait until the log has
    /// stopped growing for 150 ms (at most 3 s) before reading it.
    func requests() -> [[String: Any]] {
        let log = state.file("log.jsonl")
        func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? -1 }
        var last = size(), stableSince = Date()
        let giveUp = Date().addingTimeInterval(3)
        while Date().timeIntervalSince(stableSince) < 0.15 && Date() < giveUp {
            usleep(25_000)
            let now = size()
            if now != last {
                last = now
                stableSince = Date()
            }
        }
        guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    func requests(_ route: String) -> [[String: Any]] { requests().filter { $0["route"] as? String == route } }

    /// What the fake recorded as uploaded for `path` (uploaded.json), newest last.
    func uploaded(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: state.file("uploaded.json")),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }
        return json[path.lowercased()] as? [String] ?? []
    }
}

struct RunResult {
    let status: Int32
    let stdout: String
    let stderr: String
    let pid: Int32
    var output: String { stdout + stderr }
}

/// Spawns a program with posix_spawn: pipes are O_CLOEXEC, so no other child (a fake server started by
/// a test running in parallel) can hold a write end open and keep a reader from seeing EOF.
final class Spawned: @unchecked Sendable {
    let pid: pid_t
    private var outFD: Int32 = -1
    private var errFD: Int32 = -1

    init(_ executable: String, _ arguments: [String], env: [String: String], capture: Bool = true) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if capture {
            guard ep_pipe_cloexec(&outPipe) == 0, ep_pipe_cloexec(&errPipe) == 0 else { throw CocoaError(.fileWriteUnknown) }
            posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
            posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0)=\($1)") } + [nil]
        defer {
            for p in argv { free(p) }
            for p in envp { free(p) }
        }
        // Test-runner threads block signals; a child must start with none blocked and default dispositions.
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        var empty = sigset_t(), all = sigset_t()
        sigemptyset(&empty)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attr, &empty)
        posix_spawnattr_setsigdefault(&attr, &all)
        posix_spawnattr_setflags(&attr, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attr, argv, envp)
        if capture {
            close(outPipe[1])
            close(errPipe[1])
        }
        guard rc == 0 else {
            throw NSError(domain: "spawn", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: "cannot spawn \(executable): \(String(cString: strerror(rc)))"])
        }
        self.pid = pid
        if capture {
            outFD = outPipe[0]
            errFD = errPipe[0]
        }
    }

    /// Reads both pipes to EOF and reaps the child; kills it after `timeout` seconds.
    func finish(timeout: Double) -> (status: Int32, stdout: Data, stderr: Data, timedOut: Bool) {
        var out = Data(), err = Data()
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        var fds = [outFD, errFD].filter { $0 >= 0 }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !fds.isEmpty {
            var polls = fds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let left = deadline.timeIntervalSinceNow
            if left <= 0 && !timedOut {
                timedOut = true
                kill(pid, SIGKILL)
            }
            _ = poll(&polls, nfds_t(polls.count), Int32(max(10, min(left, 0.2) * 1000)))
            for p in polls where p.revents != 0 {
                let n = read(p.fd, &buffer, buffer.count)
                if n > 0 {
                    if p.fd == outFD { out.append(contentsOf: buffer[0..<n]) } else { err.append(contentsOf: buffer[0..<n]) }
                } else {
                    close(p.fd)
                    fds.removeAll { $0 == p.fd }
                }
            }
        }
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, WNOHANG)
            if rc == pid { break }
            if Date() > deadline && !timedOut {
                timedOut = true
                kill(pid, SIGKILL)
            }
            usleep(5000)
        }
        let code: Int32 = (status & 0x7F) == 0 ? (status >> 8) & 0xFF : 128 + (status & 0x7F)
        return (code, out, err, timedOut)
    }
}

/// Runs the binary with exactly `env` (plus PATH), and checks that no secret leaked into its output.
final class Runner: @unchecked Sendable {
    let child: Spawned

    init(_ arguments: [String], env: [String: String]) throws {
        var environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "ENTRYPOINT_BACKOFF_BASE": "0.05", "ENTRYPOINT_BACKOFF_CAP": "0.2"]
        environment.merge(env) { _, new in new }
        child = try Spawned(Paths.binary, arguments, env: environment)
    }

    var pid: Int32 { child.pid }

    func wait(timeout: Double = 60, sourceLocation: SourceLocation = #_sourceLocation) -> RunResult {
        let r = child.finish(timeout: timeout)
        if r.timedOut { Issue.record("entrypoint did not finish within \(timeout)s", sourceLocation: sourceLocation) }
        let result = RunResult(
            status: r.status, stdout: String(decoding: r.stdout, as: UTF8.self), stderr: String(decoding: r.stderr, as: UTF8.self),
            pid: child.pid)
        for secret in Secrets.all {
            #expect(!result.output.contains(secret), "secret leaked into output: \(result.output)", sourceLocation: sourceLocation)
        }
        return result
    }
}

@discardableResult
func run(_ arguments: [String], env: [String: String], timeout: Double = 60, sourceLocation: SourceLocation = #_sourceLocation) throws -> RunResult {
    try Runner(arguments, env: env).wait(timeout: timeout, sourceLocation: sourceLocation)
}

/// SQLite fixtures made with the real library.
enum DB {
    @discardableResult
    static func sql(_ path: String, _ statements: String) throws -> [String] {
        var db: OpaquePointer?
        guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw CocoaError(.fileReadUnknown) }
        defer { sqlite3_close(db) }
        var rows: [String] = []
        var remaining = statements
        while !remaining.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            var stmt: OpaquePointer?
            var tailOffset = 0
            let rc = remaining.withCString { base -> Int32 in
                var tail: UnsafePointer<CChar>?
                let rc = sqlite3_prepare_v2(db, base, -1, &stmt, &tail)
                tailOffset = tail.map { $0 - base } ?? strlen(base)
                return rc
            }
            guard rc == SQLITE_OK else {
                throw NSError(domain: "sqlite", code: Int(rc), userInfo: [NSLocalizedDescriptionKey: String(cString: sqlite3_errmsg(db))])
            }
            if let stmt {
                while sqlite3_step(stmt) == SQLITE_ROW {
                    rows.append(sqlite3_column_text(stmt, 0).map { String(cString: $0) } ?? "")
                }
                sqlite3_finalize(stmt)
            }
            remaining = String(decoding: Array(remaining.utf8).dropFirst(tailOffset), as: UTF8.self)
        }
        return rows
    }

    /// A database with table `items(name)` holding `rows` names, padded to about `bytes`.
    static func make(_ path: String, rows: [String], padding bytes: Int = 0) throws {
        try? FileManager.default.removeItem(atPath: path)
        var sql = "CREATE TABLE items(name TEXT); CREATE TABLE pad(b BLOB);"
        for row in rows { sql += "INSERT INTO items VALUES ('\(row)');" }
        if bytes > 0 { sql += "INSERT INTO pad SELECT randomblob(4000) FROM (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < \(bytes / 4000)) SELECT i FROM c);" }
        try DB.sql(path, sql)
    }

    static func items(_ path: String) throws -> [String] {
        try sql(path, "SELECT name FROM items ORDER BY rowid")
    }

    static func integrity(_ path: String) -> String {
        (try? sql(path, "PRAGMA integrity_check").joined(separator: ",")) ?? "unreadable"
    }
}

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

    func publishRaw(_ data: Data) throws -> String {
        let file = sources.file("raw-\(UUID().uuidString.prefix(8))")
        try data.write(to: URL(fileURLWithPath: file))
        try fake.publish(remotePath, file)
        return file
    }

    /// Files in the database directory other than the database itself (temporaries, copies, sidecars).
    func leftovers() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: volume.path + "/database")) ?? []
        return names.filter { $0 != "production.db" && $0 != "production.db.entrypoint.json" && $0 != "production.db.entrypoint.lock" }.sorted()
    }
}
