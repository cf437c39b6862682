// ENTRYPOINT_APP_USER (syntax and lookup from passwd(5)/group(5) text), ENTRYPOINT_PASS_SECRETS,
// what the app's environment loses, and ENTRYPOINT_HEARTBEAT_URL's rules (a secret: never echoed).
import Testing

@testable import EntrypointCore

@Suite struct AppUserTests {
    static let passwd = """
        root:x:0:0:root:/root:/bin/bash
        # a comment
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
        app:x:1000:1000:App,,,:/home/app:/bin/sh
        nohome:x:1001:1001::::/bin/sh
        """
    static let group = """
        root:x:0:
        app:x:1000:
        audio:x:29:app,other
        video:x:44:other
        staff:x:50:app
        nogroup:x:65534:
        """

    func resolve(_ value: String, passwd: String? = passwd, group: String? = group) throws -> Result<AppUser, EntrypointError> {
        let spec = try AppUser.parse(value).get()
        return AppUser.resolve(spec, passwd: passwd, group: group)
    }

    @Test func aNameGetsItsPasswdEntryAndItsGroups() throws {
        let u = try resolve("app").get()
        #expect(u.uid == 1000 && u.gid == 1000)
        #expect(u.groups == [1000, 29, 50])
        #expect(u.home == "/home/app")
    }

    @Test func anExplicitGroupIsTheOnlyGroup() throws {
        let named = try resolve("app:staff").get()
        #expect(named.gid == 50 && named.groups == [50])
        let numeric = try resolve("app:7").get()
        #expect(numeric.gid == 7 && numeric.groups == [7])
    }

    @Test func aUidWithAnEntryUsesItsGid() throws {
        let u = try resolve("65534").get()
        #expect(u.uid == 65534 && u.gid == 65534 && u.groups == [65534] && u.home == "/nonexistent")
    }

    @Test func aUidWithoutAnEntryNeverGetsGroupZero() throws {
        let u = try resolve("54321").get()
        #expect(u.uid == 54321 && u.gid == 54321 && u.groups == [54321] && u.home == "/")
        let v = try resolve("54321:54322", passwd: nil, group: nil).get()
        #expect(v.uid == 54321 && v.gid == 54322 && v.groups == [54322])
        // An empty home field: "/".
        #expect(try resolve("nohome").get().home == "/")
    }

    @Test func unknownNamesAreExit71NamingTheCause() throws {
        for (value, passwd, group, needle) in [
            ("ghost", Self.passwd, Self.group, "no user ghost in /etc/passwd"),
            ("app:ghosts", Self.passwd, Self.group, "no group ghosts in /etc/group"),
            ("app", nil, Self.group, "/etc/passwd does not exist"),
            ("1000:ghosts", Self.passwd, nil, "/etc/group does not exist"),
        ] as [(String, String?, String?, String)] {
            guard case .failure(let e) = try resolve(value, passwd: passwd, group: group) else {
                Issue.record("\(value) resolved")
                continue
            }
            #expect(e.code == .appUser && e.exitStatus == 71)
            #expect(e.message.hasPrefix("cannot switch to ENTRYPOINT_APP_USER=\(value): ") && e.message.contains(needle), "\(e.message)")
        }
    }

    @Test func badSyntaxIsAConfigurationError() {
        for value in ["a:b:c", ":1000", "1000:", "app user", "4294967295", "12ab", "../x"] {
            do {
                _ = try Configuration(environment: ["ENTRYPOINT_APP_USER": value])
                Issue.record("\(value) accepted")
            } catch {
                #expect(error.code == .config && error.message.hasPrefix("ENTRYPOINT_APP_USER="), "\(error.message)")
            }
        }
        #expect((try? Configuration(environment: ["ENTRYPOINT_APP_USER": "nobody:nogroup"]))?.appUser?.group == "nogroup")
    }

    @Test func theAppsEnvironmentLosesTheSecretsUnlessPassed() {
        let env = [
            "DROPBOX_APP_KEY": "k", "DROPBOX_APP_SECRET": "s", "DROPBOX_REFRESH_TOKEN": "r", "DROPBOX_ACCESS_TOKEN": "a",
            "DROPBOX_APP_SECRET_FILE": "/s", "DROPBOX_REFRESH_TOKEN_FILE": "/r", "DROPBOX_ACCESS_TOKEN_FILE": "/a",
            "ENTRYPOINT_HEARTBEAT_URL": "https://hc.example/x", "PORT": "8000", "HOME": "/root",
        ]
        let stripped = AppLaunch(passSecrets: false, user: nil).environment(env)
        #expect(stripped == ["DROPBOX_APP_KEY": "k", "PORT": "8000", "HOME": "/root"])
        #expect(AppLaunch(passSecrets: true, user: nil).environment(env) == env)
        let user = AppUser(spec: "app", uid: 1000, gid: 1000, groups: [1000], home: "/home/app")
        #expect(AppLaunch(passSecrets: false, user: user).environment(env)["HOME"] == "/home/app")
    }

    @Test func heartbeatURLFollowsTheBaseURLRulesAndIsNeverEchoed() throws {
        let ok = try Configuration(environment: ["ENTRYPOINT_HEARTBEAT_URL": "https://hc-ping.com/5f1c-uuid/"])
        #expect(ok.heartbeatURL == "https://hc-ping.com/5f1c-uuid")
        #expect(ok.secrets.contains("https://hc-ping.com/5f1c-uuid"))
        #expect(ok.redactedSummary.contains { $0.0 == "ENTRYPOINT_HEARTBEAT_URL" && $0.1 == "(set, redacted)" })
        #expect(try Configuration(environment: ["ENTRYPOINT_HEARTBEAT_URL": "http://127.0.0.1:9/ping"]).heartbeatURL == "http://127.0.0.1:9/ping")
        for value in [
            "http://hc.example/SECRETKEY", "ftp://hc.example/SECRETKEY", "https://user:SECRETKEY@hc.example/", "https://hc.example/SECRETKEY?x=1",
            "https://hc.example:0/SECRETKEY",
        ] {
            do {
                _ = try Configuration(environment: ["ENTRYPOINT_HEARTBEAT_URL": value])
                Issue.record("\(value) accepted")
            } catch {
                #expect(error.code == .config && error.message.hasPrefix("ENTRYPOINT_HEARTBEAT_URL"), "\(error.message)")
                #expect(!error.message.contains("SECRETKEY"), "\(error.message)")
            }
        }
    }

    @Test func theHeartbeatRequests() {
        let ok = Heartbeat.request(url: "https://hc.example/k", failure: nil)
        #expect(ok.method == "GET" && ok.url == "https://hc.example/k")
        let fail = Heartbeat.request(url: "https://hc.example/k", failure: "periodic backup failed (exit 69)")
        #expect(fail.method == "POST" && fail.url == "https://hc.example/k/fail")
        guard case .bytes(let body) = fail.body else {
            Issue.record("no body")
            return
        }
        #expect(String(decoding: body, as: UTF8.self) == "periodic backup failed (exit 69)\n")
    }
}
