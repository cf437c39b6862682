// On a cold start with different API and content origins, the connection to the
// content host is opened (by one ranged files/download) while the token request and get_metadata
// are in flight, and the download reuses it. The fake's certificate names both 127.0.0.1 and localhost, so
// https://localhost:PORT (api) and https://127.0.0.1:PORT (content) are two origins on one fake;
// its log gives every request its connection's id (`conn`) and its Host header.
import Foundation
import TestSupport
import Testing

@Suite struct PreconnectTests {
    /// The environment with the API on https://localhost:PORT and the content host on https://127.0.0.1:PORT.
    func split(_ w: World, _ extra: [String: String] = [:], token: String? = Secrets.accessToken) -> [String: String] {
        var env = w.env(extra, token: token)
        env["DROPBOX_API_URL"] = "https://localhost:\(w.fake.port)"
        return env
    }

    func warmUps(_ w: World) -> [[String: Any]] {
        w.fake.requests("files/download").filter { $0["range"] as? String == "bytes=0-0" }
    }

    func conn(_ r: [String: Any]) -> Int { r["conn"] as? Int ?? -1 }

    /// The restore's output and the files it left, with the database, its record and its lock removed first.
    func coldRun(_ w: World, _ env: [String: String]) throws -> RunResult {
        for suffix in ["", ".entrypoint.json", ".entrypoint.lock"] { try? FileManager.default.removeItem(atPath: w.db + suffix) }
        return try run([], env: env)
    }

    @Test func coldStartWarmsTheContentConnectionWhileMetadataIsInFlight() throws {
        let w = try World()
        let source = try w.publish(["alpha", "beta"], padding: 300_000)
        try w.fake.fault(["route": "files/get_metadata", "kind": "delay", "seconds": 2])
        let r = try run([], env: split(w))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("Restored to \(w.db)"))
        #expect(bytes(w.db) == bytes(source))
        #expect(try DB.items(w.db) == ["alpha", "beta"])
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")

        let metadata = try #require(w.fake.requests("files/get_metadata").first)
        let downloads = w.fake.requests("files/download")
        let warm = try #require(warmUps(w).first, "no ranged warm-up request: \(downloads)")
        let real = try #require(downloads.first { $0["range"] as? String == nil })
        #expect(downloads.count == 2, "\(downloads)")
        #expect(metadata["host"] as? String == "localhost:\(w.fake.port)")
        #expect(warm["host"] as? String == "127.0.0.1:\(w.fake.port)")
        #expect(warm["status"] as? Int == 206 && warm["bytes_sent"] as? Int == 1, "\(warm)")
        #expect((warm["arg"] as? [String: Any])?["path"] as? String == w.remotePath)
        // The warm-up was answered while get_metadata was still waiting (the 2 s delay).
        let warmDone = try #require(warm["t"] as? Double)
        let metadataDone = try #require(metadata["t"] as? Double)
        #expect(warmDone < metadataDone, "warm-up answered at \(warmDone), metadata at \(metadataDone)")
        // The download went over the warm-up's connection: one TLS connection per origin, no third.
        #expect(conn(real) == conn(warm), "download on connection \(conn(real)), warm-up on \(conn(warm))")
        #expect(conn(metadata) != conn(warm))
        #expect(Set(w.fake.requests().map(conn)).count == 2, "\(w.fake.requests())")
        // The same lines as without the warm-up.
        let plain = try coldRun(w, w.env())
        #expect(plain.status == 0 && plain.stderr == r.stderr, "with: \(r.stderr)\nwithout: \(plain.stderr)")
    }

    /// With a refresh token the content connection does not wait for the token: it is opened (and
    /// its warm-up answered, without a token) while the token request is still waiting for its
    /// answer, the refresh happens once, and the download reuses that connection.
    @Test func theContentConnectionOpensWhileTheTokenRequestIsInFlight() throws {
        let w = try World()
        let source = try w.publish(["refreshed"], padding: 100_000)
        try w.fake.fault(["route": "oauth2/token", "kind": "delay", "seconds": 2])
        var env = split(w, w.refreshEnv, token: nil)
        env["ENTRYPOINT_LOG_LEVEL"] = "debug"  // the debug lines too are checked for secrets (run)
        let r = try run([], env: env)
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(countLines(r.stderr, containing: "pre-connect") == 1, "\(r.stderr)")
        #expect(
            r.stderr.contains("debug: pre-connect to https://127.0.0.1:\(w.fake.port) answered HTTP 400; the download takes over its handle and connection"),
            "\(r.stderr)")
        let refreshes = w.fake.requests("oauth2/token")
        #expect(refreshes.count == 1, "\(refreshes)")
        let warm = try #require(warmUps(w).first)
        // The warm-up carries no token (there is none yet) and reads nothing.
        #expect(warm["auth"] is NSNull && warm["arg"] is NSNull && warm["status"] as? Int == 400, "\(warm)")
        #expect(w.fake.requests("files/get_metadata").first?["auth"] as? String == Secrets.issued[0])
        // Its connection was accepted, and its answer sent, before the token's answer.
        let tokenAnswered = try #require(refreshes.first?["t"] as? Double)
        let accepted = try #require(warm["conn_t"] as? Double)
        let warmDone = try #require(warm["t"] as? Double)
        #expect(accepted < tokenAnswered - 1, "content connection accepted at \(accepted), token answered at \(tokenAnswered)")
        #expect(warmDone < tokenAnswered, "warm-up answered at \(warmDone), token at \(tokenAnswered)")
        let real = try #require(w.fake.requests("files/download").first { $0["range"] as? String == nil })
        #expect(conn(real) == conn(warm))
        #expect(Set(w.fake.requests().map(conn)).count == 2, "\(w.fake.requests())")
    }

    @Test func oneOriginSendsNoWarmUp() throws {
        let w = try World()
        let source = try w.publish(["one"])
        try w.fake.fault(["route": "files/get_metadata", "kind": "delay", "seconds": 1])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        let log = w.fake.requests()
        #expect(log.map { $0["route"] as? String ?? "" } == ["files/get_metadata", "files/download"], "\(log)")
        #expect(log.allSatisfy { $0["range"] as? String == nil })
        #expect(Set(log.map(conn)).count == 1)
    }

    @Test func warmStartSendsNoWarmUp() throws {
        let w = try World()
        try w.publish(["warm"])
        #expect(try run([], env: w.env()).status == 0)
        let before = w.fake.requests().count
        let r = try run([], env: split(w))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("No download needed (hash match)"))
        let after = Array(w.fake.requests().dropFirst(before))
        #expect(after.map { $0["route"] as? String ?? "" } == ["files/get_metadata"], "\(after)")
    }

    /// A warm-up still waiting for its answer when the download starts is not waited for: the
    /// download opens its own connection, and the warm-up is stopped and joined within about a second.
    @Test func aWarmUpStillInFlightIsNotWaitedFor() throws {
        let w = try World()
        let source = try w.publish(["slow warm-up"], padding: 100_000)
        try w.fake.fault(["route": "files/download", "kind": "delay", "seconds": 10, "range": "bytes=0-0", "times": -1])
        let started = Date()
        let r = try run([], env: split(w, ["ENTRYPOINT_LOG_LEVEL": "debug"]))
        let took = Date().timeIntervalSince(started)
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(took < 5, "took \(took) s: the restore waited for the warm-up")
        #expect(
            r.stderr.contains("debug: pre-connect to https://127.0.0.1:\(w.fake.port) still in flight; the download opens its own connection"), "\(r.stderr)")
        let real = try #require(w.fake.requests("files/download").first { $0["range"] as? String == nil })
        #expect(real["status"] as? Int == 200)
    }

    /// get_metadata answers before the warm-up (as when its answer is slow): the download waits
    /// for the warm-up a moment
    /// (`handOverWait`) and then uses its connection rather than opening another.
    @Test func aWarmUpAlmostDoneIsWaitedForAndReused() throws {
        let w = try World()
        let source = try w.publish(["nearly there"], padding: 100_000)
        try w.fake.fault(["route": "files/download", "kind": "delay", "seconds": 0.3, "range": "bytes=0-0", "times": -1])
        let r = try run([], env: split(w, ["ENTRYPOINT_LOG_LEVEL": "debug"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        #expect(
            r.stderr.contains("debug: pre-connect to https://127.0.0.1:\(w.fake.port) answered HTTP 206; the download takes over its handle and connection"),
            "\(r.stderr)")
        let warm = try #require(w.fake.requests("files/download").first { $0["range"] as? String == "bytes=0-0" })
        let real = try #require(w.fake.requests("files/download").first { $0["range"] as? String == nil })
        let metadata = try #require(w.fake.requests("files/get_metadata").first)
        #expect((metadata["t"] as? Double ?? 0) < (warm["t"] as? Double ?? 0), "get_metadata answered before the warm-up")
        #expect(conn(real) == conn(warm) && conn(warm) >= 0, "the download went over the warm-up's connection")
    }

    /// A 500 or a connection reset on the warm-up changes nothing: same lines, same exit code.
    @Test(arguments: [
        ["kind": "status", "status": 500] as [String: any Sendable],
        ["kind": "drop_after", "bytes": 0],
    ])
    func aFailedWarmUpChangesNothing(fault: [String: any Sendable]) throws {
        let w = try World()
        let source = try w.publish(["sturdy"], padding: 100_000)
        var f: [String: Any] = ["route": "files/download", "range": "bytes=0-0", "times": -1]
        for (key, value) in fault { f[key] = value }
        try w.fake.fault(f)
        try w.fake.fault(["route": "files/get_metadata", "kind": "delay", "seconds": 1])
        let r = try run([], env: split(w))
        #expect(r.status == 0, "\(r.output)")
        #expect(bytes(w.db) == bytes(source))
        let warm = try #require(warmUps(w).first)
        #expect(warm["fault"] as? String == fault["kind"] as? String, "\(warm)")
        try w.fake.clearFaults()
        let plain = try coldRun(w, w.env())
        #expect(plain.status == 0 && plain.stderr == r.stderr, "with: \(r.stderr)\nwithout: \(plain.stderr)")
    }

    /// get_metadata fails while the warm-up is still waiting for its (10 s delayed) answer: the
    /// exit code and the line are today's, and the exit does not wait for the warm-up.
    @Test(arguments: ["not found", "401"])
    func aFailedMetadataCallExitsAsTodayAndPromptly(failure: String) throws {
        let w = try World()
        try w.publish(["x"])
        var extra: [String: String] = [:]
        switch failure {
        case "not found":
            extra["DROPBOX_DB_PATH"] = "/gone.db"
        default:
            try w.fake.fault([
                "route": "files/get_metadata", "kind": "status", "status": 401, "times": -1,
                "body": #"{"error_summary": "expired_access_token/..", "error": {".tag": "expired_access_token"}}"#,
            ])
        }
        let plain = try run([], env: w.env(extra))
        try w.fake.fault(["route": "files/download", "kind": "delay", "seconds": 10, "range": "bytes=0-0", "times": -1])
        try w.fake.fault(["route": "files/get_metadata", "kind": "delay", "seconds": 0.5])
        let started = Date()
        let r = try run([], env: split(w, extra))
        let took = Date().timeIntervalSince(started)
        #expect(r.status == (failure == "401" ? 77 : 66), "\(r.output)")
        #expect(r.status == plain.status && r.stderr == plain.stderr, "with: \(r.stderr)\nwithout: \(plain.stderr)")
        #expect(took < 5, "took \(took) s: the exit waited for the warm-up")
        #expect(!FileManager.default.fileExists(atPath: w.db))
    }

    @Test func sigtermDuringTheWarmUpAndTheMetadataCallStopsPromptly() throws {
        let w = try World()
        try w.publish(["x"])
        try w.fake.fault(["route": "files/download", "kind": "delay", "seconds": 10, "range": "bytes=0-0", "times": -1])
        try w.fake.fault(["route": "files/get_metadata", "kind": "delay", "seconds": 10, "times": -1])
        let runner = try Runner([], env: split(w))
        usleep(1_500_000)
        let sent = Date()
        kill(runner.pid, SIGTERM)
        let r = runner.wait(timeout: 20)
        let took = Date().timeIntervalSince(sent)
        #expect(r.status == 128 + SIGTERM, "\(r.output)")
        #expect(r.stderr.contains("entrypoint: error: stopped by SIGTERM; the database was left as it was"), "\(r.stderr)")
        #expect(took < 3, "took \(took) s after SIGTERM")
        #expect(!FileManager.default.fileExists(atPath: w.db))
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }
}
