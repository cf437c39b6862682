// Team spaces. `ns:<id>/...` paths, and DROPBOX_ROOT_NAMESPACE (an id, or auto
// from users/get_current_account's root_info) sending Dropbox-API-Path-Root on every call. The fake
// models a team space (its own root namespace, the member's home folder mounted in it) per
// common.stone PathRoot / RootInfo.
import Foundation
import TestSupport
import Testing

@Suite struct TeamSpaceTests {
    /// A team whose root namespace 7001 holds /Shared/production.db; the member's home is 3235641.
    func teamWorld(remote: String) throws -> World {
        let w = try World()
        w.remotePath = remote
        w.fake.extra = ["team": ["root_namespace_id": "7001", "home_path": "/Franz Ferdinand"]]
        try w.publish(["team"], at: "ns:7001/Shared/production.db")
        return w
    }

    @Test func autoFindsTheTeamRootAndEveryCallCarriesIt() throws {
        let w = try teamWorld(remote: "/Shared/production.db")
        let r = try run([], env: w.env(["DROPBOX_ROOT_NAMESPACE": "auto"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["team"])
        #expect(r.stderr.contains("the account's root namespace is 7001 (a team space"), "\(r.stderr)")
        let calls = w.fake.requests().filter { ($0["route"] as? String)?.hasPrefix("files/") == true }
        #expect(!calls.isEmpty && calls.allSatisfy { $0["path_root"] as? String == #"{".tag":"root","root":"7001"}"# }, "\(calls)")
        // The backup goes to the team space too.
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway')")
        let b = try run(["--backup"], env: w.env(["DROPBOX_ROOT_NAMESPACE": "auto"]))
        #expect(b.status == 0, "\(b.output)")
        #expect(try DB.items(try #require(w.fake.uploaded("ns:7001/Shared/production.db").last)) == ["team", "railway"])
        #expect(w.fake.uploaded("/Shared/production.db").isEmpty)
    }

    @Test func withoutTheSettingTheTeamFileIsNotFound() throws {
        let w = try teamWorld(remote: "/Shared/production.db")
        let r = try run([], env: w.env())
        #expect(r.status == 66, "\(r.output)")
        #expect(w.fake.requests().allSatisfy { $0["path_root"] is NSNull }, "\(w.fake.requests())")
    }

    @Test func anExplicitNamespaceIdAndNsPaths() throws {
        let w = try teamWorld(remote: "/Shared/production.db")
        let r = try run([], env: w.env(["DROPBOX_ROOT_NAMESPACE": "7001"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("files/get_metadata").first?["path_root"] as? String == #"{".tag":"namespace_id","namespace_id":"7001"}"#)
        #expect(w.fake.requests("users/get_current_account").isEmpty)
        let n = try teamWorld(remote: "ns:7001/Shared/production.db")
        let s = try run([], env: n.env())
        #expect(s.status == 0, "\(s.output)")
        #expect(try DB.items(n.db) == ["team"])
        let c = try run(["--check"], env: n.env(["DROPBOX_ROOT_NAMESPACE": "7001"]))
        #expect(c.stdout.contains("DROPBOX_ROOT_NAMESPACE = 7001: sent as Dropbox-API-Path-Root"), "\(c.stdout)")
        #expect(c.stdout.contains("DROPBOX_DB_PATH = ns:7001/Shared/production.db"), "\(c.stdout)")
    }

    @Test func aSideCopyOfAnNsPathStaysInItsNamespace() throws {
        let w = try teamWorld(remote: "ns:7001/Shared/production.db")
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway')")
        try w.publish(["team", "main server"], at: "ns:7001/Shared/production.db")  // Dropbox moved on
        let b = try run(["--backup", "--auto"], env: w.env())
        #expect(b.status == 0, "\(b.output)")
        let upload = try #require(w.fake.requests("files/upload").last?["arg"] as? [String: Any])
        let path = try #require(upload["path"] as? String)
        #expect(path.hasPrefix("ns:7001/Shared/production.failback-") && path.hasSuffix(".db"), "\(path)")
        #expect(try DB.items(try #require(w.fake.uploaded(path).last)) == ["team", "railway"])
    }

    @Test func aNamespaceWithoutAccessIs73() throws {
        let w = try teamWorld(remote: "/Shared/production.db")
        let r = try run([], env: w.env(["DROPBOX_ROOT_NAMESPACE": "999"]))
        #expect(r.status == 73, "\(r.output)")
        #expect(r.stderr.contains("no access to the namespace"), "\(r.stderr)")
    }

    @Test func badSettingsAre78() throws {
        let w = try World()
        for (name, value) in [("DROPBOX_ROOT_NAMESPACE", "team"), ("DROPBOX_DB_PATH", "ns:abc/x.db"), ("DROPBOX_DB_PATH", "ns:7001")] {
            let r = try run(["--check"], env: w.env([name: value]))
            #expect(r.status == 78, "\(name)=\(value): \(r.output)")
            #expect(r.stderr.contains(name), "\(r.stderr)")
        }
    }

    /// --download with an ns: DROPBOX_DB_PATH names a rev of another file as it does for a / path
    /// (Dropbox shows paths inside the namespace, never the ns: form), and stays quiet for its own.
    @Test func aRevOfAnotherFileIsNamedForAnNsPathToo() throws {
        let w = try teamWorld(remote: "ns:7001/Shared/production.db")
        try w.publish(["other"], at: "/other.db")
        let own = String(try #require(try run(["--revisions"], env: w.env()).stdout.split(separator: " ").first))
        let other = String(try #require(try run(["--revisions"], env: w.env(["DROPBOX_DB_PATH": "/other.db"])).stdout.split(separator: " ").first))
        let r = try run(["--download", other, w.volume.file("other.db")], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(
            countLines(
                r.stderr,
                containing: "warning: rev \(other) is a revision of /other.db, not of DROPBOX_DB_PATH=ns:7001/Shared/production.db (/Shared/production.db)")
                == 1, "\(r.stderr)")
        let mine = try run(["--download", own, w.volume.file("own.db")], env: w.env())
        #expect(mine.status == 0, "\(mine.output)")
        #expect(!mine.stderr.contains("warning:"), "\(mine.stderr)")
        #expect(try DB.items(w.volume.file("own.db")) == ["team"])
    }
}
