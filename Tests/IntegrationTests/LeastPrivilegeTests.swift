// The app's process (exec'd or supervised) gets no Dropbox secrets while the
// backup workers still back up; ENTRYPOINT_APP_USER gives the database's directory and files to
// that user and runs the app as it (a real uid: the tests run as root), checked through /proc.
import Foundation
import TestSupport
import Testing

@Suite struct LeastPrivilegeTests {
    /// The app: writes what it is (/proc/self/status's Uid, Gid, Groups; HOME; the secret
    /// variables' names, never their values) as JSON to argv[1], commits a row to the database, exits.
    static let app = """
        import json, os, sqlite3, sys
        status = {l.split(":")[0]: l.split(":", 1)[1].split() for l in open("/proc/self/status") if l.startswith(("Uid", "Gid", "Groups"))}
        names = sorted(k for k in os.environ if k.startswith(("DROPBOX_", "ENTRYPOINT_HEARTBEAT")))
        db = sqlite3.connect(os.environ["RAILWAY_DB_PATH"])
        db.execute("PRAGMA journal_mode=" + sys.argv[2])
        db.execute("INSERT INTO items VALUES ('written-by-the-app')")
        db.commit()
        db.close()
        json.dump({"status": status, "names": names, "home": os.environ.get("HOME")}, open(sys.argv[1], "w"))
        """

    static let secretNames = [
        "DROPBOX_ACCESS_TOKEN", "DROPBOX_APP_SECRET", "DROPBOX_REFRESH_TOKEN_FILE", "ENTRYPOINT_HEARTBEAT_URL",
    ]

    /// Every kind of secret: an access token, the app secret, the refresh token as a _FILE, a heartbeat.
    func env(_ w: World, _ extra: [String: String]) throws -> [String: String] {
        let tokenFile = w.sources.file("refresh-token")
        try Secrets.refreshToken.write(toFile: tokenFile, atomically: true, encoding: .utf8)
        var env = w.env([
            "DROPBOX_APP_KEY": Secrets.appKey, "DROPBOX_APP_SECRET": Secrets.appSecret, "DROPBOX_REFRESH_TOKEN_FILE": tokenFile,
            "ENTRYPOINT_HEARTBEAT_URL": "http://127.0.0.1:9/heartbeat-key",
        ])
        env.merge(extra) { $1 }
        return env
    }

    func report(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
    }

    func owner(_ path: String) -> (UInt32, UInt32)? {
        var st = stat()
        return lstat(path, &st) == 0 ? (st.st_uid, st.st_gid) : nil
    }

    @Test(arguments: [false, true])
    func theAppGetsNoSecretsUnlessPassed(supervised: Bool) throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let out = dir.file("report.json")
        for pass in [false, true] {
            var extra = supervised ? ["ENTRYPOINT_BACKUP_ON_STOP": "1"] : [:]
            if pass { extra["ENTRYPOINT_PASS_SECRETS"] = "1" }
            let r = try run(["python3", "-c", Self.app, out, "delete"], env: try env(w, extra))
            #expect(r.status == 0, "\(r.output)")
            let names = try report(out)["names"] as? [String] ?? []
            if pass {
                #expect(Set(Self.secretNames).isSubset(of: names), "\(names)")
            } else {
                #expect(names == ["DROPBOX_API_URL", "DROPBOX_APP_KEY", "DROPBOX_CONTENT_URL", "DROPBOX_DB_PATH"], "\(names)")
            }
            if supervised {
                // The stop backup's worker kept the secrets: it uploaded the app's row.
                #expect(r.stderr.contains("stop backup done"), "\(r.stderr)")
                let uploaded = try #require(w.fake.uploaded("/database.db").last)
                #expect(try DB.items(uploaded).last == "written-by-the-app")
            }
        }
    }

    @Test func execAsAnUnprivilegedUserThatCanStillWriteTheDatabase() throws {
        let w = try World()
        try w.publish(["base"])
        let out = TempDir()
        chmod(out.path, 0o777)
        let r = try run(["python3", "-c", Self.app, out.file("report.json"), "delete"], env: try env(w, ["ENTRYPOINT_APP_USER": "nobody"]))
        #expect(r.status == 0, "\(r.output)")
        let status = try #require(try report(out.file("report.json"))["status"] as? [String: [String]])
        #expect(status["Uid"] == ["65534", "65534", "65534", "65534"], "\(status)")
        #expect(status["Gid"] == ["65534", "65534", "65534", "65534"], "\(status)")
        #expect(status["Groups"] == ["65534"], "\(status)")
        #expect(try report(out.file("report.json"))["home"] as? String == "/nonexistent")
        #expect(try DB.items(w.db) == ["base", "written-by-the-app"])
        #expect(owner(w.db)! == (65534, 65534))
        #expect(owner(w.volume.path + "/database")! == (65534, 65534))
        // entrypoint's own bookkeeping stays root's.
        #expect(owner(w.db + ".entrypoint.json")! == (0, 0))
        #expect(r.stderr.contains("gave "), "\(r.stderr)")
    }

    @Test func supervisedAsAUidWithoutAPasswdEntryAndTheWorkersStillBackUp() throws {
        let w = try World()
        try w.publish(["base"])
        let out = TempDir()
        chmod(out.path, 0o777)
        let r = try run(
            ["python3", "-c", Self.app, out.file("report.json"), "wal"],
            env: try env(w, ["ENTRYPOINT_APP_USER": "54321:54322", "ENTRYPOINT_BACKUP_ON_STOP": "1"]))
        #expect(r.status == 0, "\(r.output)")
        let status = try #require(try report(out.file("report.json"))["status"] as? [String: [String]])
        #expect(status["Uid"] == ["54321", "54321", "54321", "54321"], "\(status)")
        #expect(status["Gid"] == ["54322", "54322", "54322", "54322"], "\(status)")
        #expect(status["Groups"] == ["54322"], "\(status)")
        #expect(try report(out.file("report.json"))["home"] as? String == "/")
        // The stop backup ran as root on the app user's WAL database.
        #expect(r.stderr.contains("stop backup done"), "\(r.stderr)")
        let uploaded = try #require(w.fake.uploaded("/database.db").last)
        #expect(try DB.items(uploaded) == ["base", "written-by-the-app"])
        #expect(owner(w.db)! == (54321, 54322))
        for suffix in ["-wal", "-shm"] where FileManager.default.fileExists(atPath: w.db + suffix) {
            #expect(owner(w.db + suffix)! == (54321, 54322), "\(suffix) is not the app's")
        }
    }

    @Test func theRootDirectoryIsNeverGivenAway() throws {
        let r = try run(["true"], env: ["RAILWAY_DB_PATH": "/ep-test-no-such.db", "ENTRYPOINT_RESTORE_MODE": "off", "ENTRYPOINT_APP_USER": "nobody"])
        #expect(r.status == 71, "\(r.output)")
        #expect(r.stderr.contains("error: cannot switch to ENTRYPOINT_APP_USER=nobody: the database's directory is /"), "\(r.stderr)")
        #expect(owner("/")! == (0, 0))
    }

    @Test func aSymlinkInPlaceOfASidecarIsNotFollowed() throws {
        // A -wal the app replaced with a symlink to a root file: the chown changes the link only.
        let w = try World()
        let target = w.sources.file("root-owned")
        try "secret".write(toFile: target, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: w.volume.path + "/database", withIntermediateDirectories: true)
        #expect(symlink(target, w.db + "-wal") == 0)
        let r = try run(["true"], env: ["RAILWAY_DB_PATH": w.db, "ENTRYPOINT_RESTORE_MODE": "off", "ENTRYPOINT_APP_USER": "nobody"])
        #expect(r.status == 0, "\(r.output)")
        #expect(owner(target)! == (0, 0), "the symlink's target was given away")
        #expect(owner(w.db + "-wal")! == (65534, 65534))
        #expect(owner(w.volume.path + "/database")! == (65534, 65534))
    }

    @Test func anUnknownUserIsExit71BeforeAnyDownload() throws {
        let w = try World()
        try w.publish(["base"])
        let dir = TempDir()
        let marker = dir.file("started")
        for supervised in [false, true] {
            let extra = ["ENTRYPOINT_APP_USER": "no-such-user-x"].merging(supervised ? ["ENTRYPOINT_BACKUP_ON_STOP": "1"] : [:]) { $1 }
            let r = try run(["touch", marker], env: try env(w, extra))
            #expect(r.status == 71, "\(r.output)")
            #expect(
                r.stderr
                    == "entrypoint: error: cannot switch to ENTRYPOINT_APP_USER=no-such-user-x: no user no-such-user-x in /etc/passwd (create it in the image, or use a numeric uid[:gid])\n"
            )
            #expect(!FileManager.default.fileExists(atPath: marker))
        }
        #expect(w.fake.requests("files/download").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: w.db))
        // --check looks the user up too.
        let bad = try run(["--check"], env: try env(w, ["ENTRYPOINT_APP_USER": "no-such-user-x"]))
        #expect(bad.status == 71 && bad.stdout.contains("result: FAIL: cannot switch to ENTRYPOINT_APP_USER=no-such-user-x"), "\(bad.output)")
        let good = try run(["--check"], env: try env(w, ["ENTRYPOINT_APP_USER": "nobody"]))
        #expect(good.status == 0, "\(good.output)")
        #expect(good.stdout.contains("app user: ENTRYPOINT_APP_USER=nobody is uid 65534, gid 65534, groups 65534, HOME=/nonexistent"), "\(good.stdout)")
        #expect(good.stdout.contains("ENTRYPOINT_PASS_SECRETS = 0"), "\(good.stdout)")
    }
}
