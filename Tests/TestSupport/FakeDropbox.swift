// The fake Dropbox (Tests/fake-dropbox/fake_dropbox.py) over TLS with the test CA: start, configure
// (files, faults, credentials), read its request log and what it recorded as uploaded, stop.
import Foundation

public final class FakeDropbox: @unchecked Sendable {
    public let state = TempDir()
    public let server: LocalServer
    public var port: Int { server.port }
    public var url: String { "https://127.0.0.1:\(port)" }
    public var files: [String: [String]] = [:]
    public var faults: [[String: Any]] = []
    public var extra: [String: Any] = [:]

    public init() throws {
        let certs = Paths.certs
        server = try LocalServer(
            python: [
                Paths.fake + "/fake_dropbox.py", "--state", state.path,
                "--cert", certs + "/server.pem", "--key", certs + "/server.key", "--port", "0",
            ], portFile: state.file("port"), what: "the fake Dropbox")
        try write()
    }

    /// Rewrites config.json atomically (the fake re-reads it on change and resets fault counters).
    public func write() throws {
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
    public func publish(_ path: String, _ source: String) throws {
        files[path, default: []].append(source)
        try write()
    }

    public func fault(_ f: [String: Any]) throws {
        faults.append(f)
        try write()
    }

    public func clearFaults() throws {
        faults = []
        try write()
    }

    /// Requests the fake has answered, in the order they arrived (`t_start`). The fake appends a line just after it sends a
    /// response, so a client may exit before its last line is written: wait until the log has
    /// stopped growing for 150 ms (at most 3 s) before reading it.
    public func requests() -> [[String: Any]] {
        let log = state.file("log.jsonl")
        func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? -1 }
        var last = size()
        var stableSince = Date()
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
        let lines = text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        // In the order the requests arrived: a line is written when its request is over, so a request
        // whose connection the fake cuts (a fault) can be logged after the client's retry of it.
        return lines.enumerated().sorted {
            let (a, b) = ($0.element["t_start"] as? Double ?? 0, $1.element["t_start"] as? Double ?? 0)
            return a != b ? a < b : $0.offset < $1.offset
        }.map(\.element)
    }

    public func requests(_ route: String) -> [[String: Any]] { requests().filter { $0["route"] as? String == route } }

    /// What the fake recorded as uploaded for `path` (uploaded.json), newest last.
    public func uploaded(_ path: String) -> [String] {
        guard let data = FileManager.default.contents(atPath: state.file("uploaded.json")),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { return [] }
        return json[path.lowercased()] as? [String] ?? []
    }
}
