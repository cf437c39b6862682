// The restore, black-box against the fake Dropbox over TLS: a cold restore installs Dropbox's file,
// an identical one downloads nothing, a missing one follows the policy; the credential forms and
// token refreshes; a file that fails its checks is never installed; proxies; bad settings stop first.
import Foundation
import TestSupport
import Testing

@Suite struct RestoreTests {
    @Test func coldRestoreInstallsTheRemoteDatabase() throws {
        let w = try World()
        let source = try w.publish(["alpha", "beta"])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("Hash mismatch - downloading from Dropbox"))
        #expect(r.stderr.contains("Restored to \(w.db)"))
        #expect(bytes(w.db) == bytes(source))
        #expect(try DB.items(w.db) == ["alpha", "beta"])
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
        // Exactly the checked revision was downloaded, with an escaped header and no Content-Type.
        let download = try #require(w.fake.requests("files/download").first)
        let rev = try #require(
            w.fake.requests("files/get_metadata").first.flatMap { _ in
                (try? JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: w.db + ".entrypoint.json")))) as? [String: Any]
            }?["rev"] as? String)
        #expect((download["arg"] as? [String: Any])?["path"] as? String == "rev:" + rev)
        #expect(w.fake.requests("files/download").count == 1)
    }

    @Test func warmStartWithIdenticalFileDownloadsNothing() throws {
        let w = try World()
        let source = try w.publish(["same"])
        try FileManager.default.createDirectory(atPath: w.volume.path + "/database", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: source, toPath: w.db)
        let r = try run(["true"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("No download needed (hash match)"))
        #expect(w.fake.requests("files/download").isEmpty)
        let sent = w.fake.requests().reduce(0) { $0 + ($1["bytes_sent"] as? Int ?? 0) }
        #expect(sent < 4096, "only metadata crossed the wire: \(sent) bytes")
    }

    @Test func remoteChangedIsDownloadedAgain() throws {
        let w = try World()
        try w.publish(["v1"])
        #expect(try run([], env: w.env()).status == 0)
        try w.publish(["v1", "v2"])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["v1", "v2"])
        // The local file was exactly what the last restore installed: no copy is needed.
        #expect(!r.stderr.contains("KEPT A COPY"))
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
        let again = try run([], env: w.env())
        #expect(again.stderr.contains("No download needed (hash match)"))
        #expect(w.fake.requests("files/download").count == 2)
    }

    @Test func remoteMissingWithLocalDatabaseStartsTheApp() throws {
        let w = try World()
        try w.publish(["local"])
        #expect(try run([], env: w.env()).status == 0)
        let r = try run(["sh", "-c", "echo app-started"], env: w.env(["DROPBOX_DB_PATH": "/gone.db"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.contains("app-started"))
        #expect(r.stderr.contains("warning: /gone.db does not exist in Dropbox"))
        #expect(try DB.items(w.db) == ["local"])
    }

    @Test func remoteMissingWithoutLocalDatabaseExitsNonZero() throws {
        let w = try World()
        let r = try run(["sh", "-c", "echo app-started"], env: w.env())
        #expect(r.status == 66, "\(r.output)")
        #expect(!r.stdout.contains("app-started"))
        #expect(r.stderr.contains("/database.db does not exist in Dropbox"))
        #expect(r.stderr.split(separator: "\n").filter { $0.contains("error:") }.count == 1)
        #expect(!FileManager.default.fileExists(atPath: w.db))
    }

    @Test func unavailablePolicyOverrides() throws {
        let w = try World()
        // start: even without a database.
        var r = try run(["sh", "-c", "echo started"], env: w.env(["ENTRYPOINT_ON_UNAVAILABLE": "start"]))
        #expect(r.status == 0 && r.stdout.contains("started"), "\(r.output)")
        // fail: even with a database.
        try w.publish(["x"])
        #expect(try run([], env: w.env()).status == 0)
        r = try run(["sh", "-c", "echo started"], env: w.env(["ENTRYPOINT_ON_UNAVAILABLE": "fail", "DROPBOX_DB_PATH": "/gone.db"]))
        #expect(r.status == 66 && !r.stdout.contains("started"), "\(r.output)")
    }

    @Test func refreshTokenFlowWithSecret() throws {
        let w = try World()
        try w.publish(["refreshed"])
        let r = try run([], env: w.env(w.refreshEnv, token: nil))
        #expect(r.status == 0, "\(r.output)")
        let token = try #require(w.fake.requests("oauth2/token").first)
        let form = try #require(token["arg"] as? [String: Any])
        #expect(form["grant_type"] as? String == "refresh_token")
        #expect(form["client_id"] as? String == Secrets.appKey)
        #expect(form["client_secret"] as? String == Secrets.appSecret)
        #expect(w.fake.requests("files/get_metadata").first?["auth"] as? String == Secrets.issued[0])
    }

    @Test func pkceRefreshSendsNoSecret() throws {
        let w = try World()
        try w.publish(["pkce"])
        let r = try run([], env: w.env(["DROPBOX_APP_KEY": Secrets.pkceKey, "DROPBOX_REFRESH_TOKEN": Secrets.pkceRefresh], token: nil))
        #expect(r.status == 0, "\(r.output)")
        let form = try #require(w.fake.requests("oauth2/token").first?["arg"] as? [String: Any])
        #expect(form["client_id"] as? String == Secrets.pkceKey)
        #expect(form["client_secret"] == nil)
        #expect(try DB.items(w.db) == ["pkce"])
    }

    @Test func badRefreshTokenIsRejectedWithOneLine() throws {
        let w = try World()
        try w.publish(["x"])
        var env = w.env(w.refreshEnv, token: nil)
        env["DROPBOX_REFRESH_TOKEN"] = "TEST-REFRESH-REVOKED-0000"
        let r = try run(["sh", "-c", "echo started"], env: env)
        #expect(r.status == 77, "\(r.output)")
        #expect(r.stderr.contains("Dropbox rejected DROPBOX_REFRESH_TOKEN"))
        #expect(r.stderr.contains("invalid_grant"))
        #expect(!r.stdout.contains("started"))
        #expect(!r.output.contains("TEST-REFRESH-REVOKED-0000"))
    }

    @Test func secretRequiredForNonPKCEToken() throws {
        let w = try World()
        try w.publish(["x"])
        let r = try run([], env: w.env(["DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_REFRESH_TOKEN": Secrets.refreshToken], token: nil))
        #expect(r.status == 77, "\(r.output)")
        #expect(r.stderr.contains("DROPBOX_APP_SECRET"))
    }

    @Test func expiredAccessTokenIsRefreshedOnce() throws {
        let w = try World()
        try w.publish(["renewed"])
        let r = try run([], env: w.env(w.refreshEnv, token: Secrets.expiredToken))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("oauth2/token").count == 1)
        let metadata = w.fake.requests("files/get_metadata")
        #expect(metadata.map { $0["status"] as? Int } == [401, 200])
        #expect(try DB.items(w.db) == ["renewed"])
    }

    @Test func expiredAccessTokenWithoutRefreshCredentials() throws {
        let w = try World()
        try w.publish(["x"])
        let r = try run([], env: w.env(token: Secrets.expiredToken))
        #expect(r.status == 77, "\(r.output)")
        #expect(r.stderr.contains("Dropbox rejected DROPBOX_ACCESS_TOKEN"))
        #expect(r.stderr.contains("expired_access_token"))
    }

    @Test func nonASCIIRemotePath() throws {
        let w = try World()
        w.remotePath = "/Bücher/Datenbank ñ 😀.db"
        try w.publish(["unicode"])
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["unicode"])
        #expect(w.fake.requests("files/download").first?["status"] as? Int == 200)
    }

    @Test func wrongBytesAreNeverInstalled() throws {
        let w = try World()
        try w.publish(["good"])
        try w.fake.fault(["route": "files/download", "kind": "corrupt_byte", "offset": 100, "times": -1])
        let r = try run(["sh", "-c", "echo started"], env: w.env())
        #expect(r.status == 65, "\(r.output)")
        #expect(r.stderr.contains("does not match Dropbox's"))
        #expect(!FileManager.default.fileExists(atPath: w.db))
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
    }

    @Test func noCredentialsSkipsTheRestoreAndStarts() throws {
        let w = try World()
        let r = try run(["sh", "-c", "echo started"], env: w.env(token: nil))
        #expect(r.status == 0)
        #expect(r.stdout.contains("started"))
        #expect(r.stderr.contains("restore skipped"))
        #expect(w.fake.requests().isEmpty)
    }

    @Test func remoteDatabaseInWALModeIsVerifiedAndInstalled() throws {
        let w = try World()
        let source = w.sources.file("wal.db")
        try DB.make(source, rows: ["wal-remote"])
        try DB.sql(source, "PRAGMA journal_mode=WAL;")
        #expect(bytes(source)?[18] == 2, "the file's header says WAL")
        try w.fake.publish("/database.db", source)
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["wal-remote"])
        #expect(w.leftovers().filter { $0.contains("download") }.isEmpty)
        // The next start checkpoints whatever the app leaves in the WAL, then finds the hash unchanged.
        let again = try run([], env: w.env())
        #expect(again.stderr.contains("No download needed (hash match)"), "\(again.output)")
    }

    @Test func standardProxyVariablesAreHonoured() throws {
        let w = try World()
        try w.publish(["via-proxy"])
        let state = TempDir()
        let proxy = try LocalServer(python: [Paths.fake + "/connect_proxy.py", state.path], portFile: state.file("port"), what: "the CONNECT proxy")
        let r = try run([], env: w.env(["https_proxy": "http://127.0.0.1:\(proxy.port)", "NO_PROXY": ""]))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["via-proxy"])
        let connects = (try? String(contentsOfFile: state.file("connects"), encoding: .utf8)) ?? ""
        #expect(connects.contains("127.0.0.1:\(w.fake.port)"), "the proxy tunnelled the requests: \(connects)")
    }

    @Test func invalidConfigurationFailsBeforeAnyNetworkCall() throws {
        let w = try World()
        try w.publish(["x"])
        for (name, value) in [("DROPBOX_DB_PATH", "database.db"), ("ENTRYPOINT_DEADLINE", "forever"), ("DROPBOX_APP_KEY", "k")] {
            let r = try run(["true"], env: w.env([name: value]))
            #expect(r.status == 78, "\(name): \(r.output)")
            #expect(r.stderr.contains(name), "\(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
        }
        #expect(w.fake.requests().isEmpty)
    }
}
