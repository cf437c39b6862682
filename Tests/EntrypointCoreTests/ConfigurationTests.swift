// The configuration read from the environment: the seed's defaults, the credential forms, secrets
// from files, every invalid setting named by its variable, API hosts parsed, secrets redacted.
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct ConfigurationTests {
    func config(_ env: [String: String]) throws(EntrypointError) -> Configuration {
        try Configuration(environment: env)
    }

    func expectConfigError(_ env: [String: String], mentioning needle: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try Configuration(environment: env)
            Issue.record("expected a configuration error mentioning \(needle)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == .config, sourceLocation: sourceLocation)
            #expect(error.message.contains(needle), "\(error.message)", sourceLocation: sourceLocation)
        }
    }

    @Test func seedDefaults() throws {
        let c = try config([:])
        #expect(c.credentials == .none)
        #expect(c.localPath == "/app/data/database/production.db")
        #expect(c.remotePath == "/database.db")
        #expect(c.apiURL == "https://api.dropboxapi.com")
        #expect(c.contentURL == "https://content.dropboxapi.com")
        #expect(c.restorePolicy == .replace)
        #expect(c.onUnavailable == .auto)
        #expect(c.deadline == 240)
        #expect(c.deadline < 300, "must stay below Railway's health-check window")
        #expect(c.backupDeadline == 3600, "a backup is run by hand: an hour unless set")
        #expect(try config(["ENTRYPOINT_DEADLINE": "30"]).backupDeadline == 30)
    }

    @Test func credentialForms() throws {
        #expect(try config(["DROPBOX_ACCESS_TOKEN": "sl.tok"]).credentials == .accessToken("sl.tok", refresh: nil))
        let r = RefreshCredentials(appKey: "key", appSecret: "sec", refreshToken: "rt")
        #expect(try config(["DROPBOX_APP_KEY": "key", "DROPBOX_APP_SECRET": "sec", "DROPBOX_REFRESH_TOKEN": "rt"]).credentials == .refresh(r))
        let pkce = RefreshCredentials(appKey: "key", appSecret: nil, refreshToken: "rt")
        #expect(try config(["DROPBOX_APP_KEY": "key", "DROPBOX_REFRESH_TOKEN": "rt"]).credentials == .refresh(pkce))
        #expect(
            try config(["DROPBOX_ACCESS_TOKEN": "a", "DROPBOX_APP_KEY": "key", "DROPBOX_APP_SECRET": "sec", "DROPBOX_REFRESH_TOKEN": "rt"]).credentials
                == .accessToken("a", refresh: r))
        // Empty values count as unset, as in the seed.
        #expect(try config(["DROPBOX_ACCESS_TOKEN": "", "DROPBOX_APP_KEY": ""]).credentials == .none)
    }

    @Test func incompleteCredentialsNameTheMissingVariable() {
        expectConfigError(["DROPBOX_REFRESH_TOKEN": "rt"], mentioning: "DROPBOX_APP_KEY")
        expectConfigError(["DROPBOX_APP_KEY": "k"], mentioning: "DROPBOX_REFRESH_TOKEN")
        expectConfigError(["DROPBOX_APP_SECRET": "s"], mentioning: "DROPBOX_APP_SECRET")
        expectConfigError(["DROPBOX_ACCESS_TOKEN": "a b"], mentioning: "DROPBOX_ACCESS_TOKEN contains whitespace")
    }

    @Test func secretsFromFiles() throws {
        let dir = TempDir()
        try "rt-from-file\n".write(toFile: dir.file("rt"), atomically: true, encoding: .utf8)
        try "".write(toFile: dir.file("empty"), atomically: true, encoding: .utf8)
        let c = try config(["DROPBOX_APP_KEY": "k", "DROPBOX_REFRESH_TOKEN_FILE": dir.file("rt")])
        #expect(c.credentials.refreshCredentials?.refreshToken == "rt-from-file")
        #expect(c.secrets.contains("rt-from-file"))
        expectConfigError(["DROPBOX_ACCESS_TOKEN_FILE": dir.file("missing")], mentioning: "DROPBOX_ACCESS_TOKEN_FILE: cannot read")
        expectConfigError(["DROPBOX_ACCESS_TOKEN_FILE": dir.file("empty")], mentioning: "is empty")
        expectConfigError(
            ["DROPBOX_ACCESS_TOKEN": "a", "DROPBOX_ACCESS_TOKEN_FILE": dir.file("rt")], mentioning: "both DROPBOX_ACCESS_TOKEN and DROPBOX_ACCESS_TOKEN_FILE")
    }

    @Test func invalidSettingsNameTheVariable() {
        expectConfigError(["ENTRYPOINT_RESTORE_MODE": "sometimes"], mentioning: "ENTRYPOINT_RESTORE_MODE=sometimes")
        expectConfigError(["ENTRYPOINT_ON_UNAVAILABLE": "x"], mentioning: "ENTRYPOINT_ON_UNAVAILABLE")
        expectConfigError(["ENTRYPOINT_DEADLINE": "soon"], mentioning: "ENTRYPOINT_DEADLINE=soon")
        expectConfigError(["ENTRYPOINT_DEADLINE": "0"], mentioning: "ENTRYPOINT_DEADLINE")
        expectConfigError(["ENTRYPOINT_KEEP_COPIES": "-1"], mentioning: "ENTRYPOINT_KEEP_COPIES")
        expectConfigError(["ENTRYPOINT_EXPAND": "maybe"], mentioning: "ENTRYPOINT_EXPAND")
        expectConfigError(["ENTRYPOINT_LOG_LEVEL": "loud"], mentioning: "ENTRYPOINT_LOG_LEVEL")
        expectConfigError(["ENTRYPOINT_UPLOAD_CHUNK_MB": "6"], mentioning: "multiple of 4")
        expectConfigError(["DROPBOX_DB_PATH": "database.db"], mentioning: "DROPBOX_DB_PATH=database.db must start with /")
        expectConfigError(["DROPBOX_DB_PATH": "/folder/"], mentioning: "folder")
        expectConfigError(["RAILWAY_DB_PATH": "/app/data/"], mentioning: "RAILWAY_DB_PATH")
        expectConfigError(["DROPBOX_API_URL": "http://example.com"], mentioning: "only for loopback")
        expectConfigError(["DROPBOX_CONTENT_URL": "ftp://x"], mentioning: "DROPBOX_CONTENT_URL")
    }

    @Test func loopbackHTTPAllowedForTests() throws {
        let c = try config(["DROPBOX_API_URL": "http://127.0.0.1:9999/", "DROPBOX_CONTENT_URL": "http://localhost:1"])
        #expect(c.apiURL == "http://127.0.0.1:9999")
        #expect(c.contentURL == "http://localhost:1")
    }

    // The host is parsed, not prefix-matched; user information is refused.
    @Test(arguments: [
        "http://127.0.0.1@evil.example", "http://127.evil.example", "http://localhost:1@evil.example",
        "http://127.0.0.1:80@evil.example/", "http://localhost.evil.example", "http://localhostx", "http://[::1].evil.example",
        "http://[::1]@evil.example", "http://127.0.0.1.evil.example", "http://127.0.0", "http://127.0.0.1.1", "http://127.0.0.256",
        "http://0177.0.0.1", "http://127.0.0.01", "http://128.0.0.1", "http://[::2]", "http://[::ffff:127.0.0.1]",
        "http://127.0.0.1\\@evil.example", "http://127.0.0.1#@evil.example", "http://127.0.0.1?@evil.example",
        "http://127.0.0.1%40evil.example", "http://user@127.0.0.1", "http://:8080", "http://", "http://127.0.0.1:",
        "http://127.0.0.1:0", "http://127.0.0.1:65536", "http://127.0.0.1:80x", "http://127.0.0.1 evil.example",
        "HTTP://evil.example", "https://user:pw@api.dropboxapi.com", "https://api.dropboxapi.com@evil.example",
        "https://", "https://:443", "https://a b.example", "https://api.dropboxapi.com?x", "https:api.dropboxapi.com",
    ])
    func baseURLsThatMustBeRefused(url: String) {
        do {
            _ = try Configuration(environment: ["DROPBOX_API_URL": url])
            Issue.record("\(url) was accepted")
        } catch {
            #expect(error.code == .config)
            #expect(error.message.hasPrefix("DROPBOX_API_URL"), "names the variable: \(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test func userInformationIsRefusedWithoutEchoingIt() {
        expectConfigError(["DROPBOX_CONTENT_URL": "https://user:hunter2@content.dropboxapi.com"], mentioning: "DROPBOX_CONTENT_URL contains user information")
        do {
            _ = try Configuration(environment: ["DROPBOX_CONTENT_URL": "https://user:hunter2@content.dropboxapi.com"])
        } catch {
            #expect(!error.message.contains("hunter2"))
        }
        expectConfigError(["DROPBOX_API_URL": "http://127.0.0.1@evil.example"], mentioning: "user information")
        expectConfigError(["DROPBOX_API_URL": "http://127.evil.example"], mentioning: "only for loopback")
    }

    @Test(arguments: [
        ("http://127.0.0.1", "http://127.0.0.1"), ("http://127.0.0.1:9999/", "http://127.0.0.1:9999"), ("http://127.1.2.3:1", "http://127.1.2.3:1"),
        ("http://127.255.255.255", "http://127.255.255.255"), ("http://localhost", "http://localhost"),
        ("http://LocalHost:8080/base//", "http://LocalHost:8080/base"),
        ("http://[::1]", "http://[::1]"), ("http://[::1]:65535/x", "http://[::1]:65535/x"), ("https://api.dropboxapi.com", "https://api.dropboxapi.com"),
        ("https://content.dropboxapi.com/", "https://content.dropboxapi.com"), ("https://proxy.internal:8443/dropbox", "https://proxy.internal:8443/dropbox"),
        ("https://[2001:db8::1]:443", "https://[2001:db8::1]:443"), ("https://10.0.0.1", "https://10.0.0.1"),
        ("https://example.com/a@b", "https://example.com/a@b"),
    ])
    func baseURLsThatAreAccepted(url: String, expected: String) throws {
        #expect(try config(["DROPBOX_API_URL": url]).apiURL == expected)
    }

    @Test func baseURLParts() throws {
        #expect(try Configuration.parseBaseURL("http://127.0.0.1:8080/p/q").get() == .init(scheme: "http", host: "127.0.0.1", port: 8080, path: "/p/q"))
        #expect(try Configuration.parseBaseURL("https://[::1]").get() == .init(scheme: "https", host: "[::1]", port: nil, path: ""))
    }

    @Test func summaryRedactsSecrets() throws {
        let c = try config([
            "DROPBOX_ACCESS_TOKEN": "sl.SECRET1", "DROPBOX_APP_KEY": "KEY2", "DROPBOX_APP_SECRET": "SECRET3", "DROPBOX_REFRESH_TOKEN": "RT4444",
        ])
        let text = c.redactedSummary.map { "\($0) \($1)" }.joined(separator: "\n")
        expectNoSecrets(in: text, ["sl.SECRET1", "KEY2", "SECRET3", "RT4444"])
        #expect(text.contains("RAILWAY_DB_PATH /app/data/database/production.db"))
    }

    // no-color.org: a non-empty NO_COLOR turns colour off; unset or empty allows it.
    @Test func noColorFollowsNoColorOrg() {
        #expect(Logger.colourAllowed(terminal: true, noColor: nil))
        #expect(Logger.colourAllowed(terminal: true, noColor: ""))
        #expect(!Logger.colourAllowed(terminal: true, noColor: "1"))
        #expect(!Logger.colourAllowed(terminal: true, noColor: "0"))
        #expect(!Logger.colourAllowed(terminal: false, noColor: nil))
        #expect(!Logger.colourAllowed(terminal: false, noColor: ""))
    }

    @Test func loggerRedactsEverySecret() {
        let log = Logger(level: .debug, fd: -1)
        log.addSecrets(["sl.tokenvalue", "rt-secret"])
        log.error("token sl.tokenvalue and rt-secret and sl.tokenvalue")
        #expect(log.captured == ["entrypoint: error: token [REDACTED] and [REDACTED] and [REDACTED]\n"])
    }
}
