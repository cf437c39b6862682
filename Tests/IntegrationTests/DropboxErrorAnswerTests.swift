// Dropbox's answers that mean something of their own get their own line and exit
// code: a full account (72), the team's monthly upload cap (72), a changed team root (73), and
// write-lock contention (retried, named as such). The full account and the cap are the fake's
// modelled behaviour (space_quota, data_transport_limit); the others are faults with the documented
// bodies (files.stone WriteError / RateLimitError, common.stone PathRootError).
import Foundation
import TestSupport
import Testing

@Suite struct DropboxErrorAnswerTests {
    func restoredWithAWrite(_ w: World, padding: Int = 0) throws {
        try w.publish(["base"], padding: padding)
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway')")
    }

    @Test func aFullAccountOnUploadIs72AndSaysTheMainServersBackupsFailToo() throws {
        let w = try World()
        try restoredWithAWrite(w)
        w.fake.extra = ["space_quota": 1000]  // the fake's account: smaller than any database
        try w.fake.write()
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 72, "\(r.output)")
        let line = lines(r.stderr, containing: "error:")
        #expect(line.count == 1 && line[0].contains("the Dropbox account is full") && line[0].contains("the main server's backups"), "\(r.stderr)")
        #expect(w.fake.requests("files/upload").count == 1)  // not retried
        #expect(w.fake.uploaded("/database.db").isEmpty)
    }

    @Test func aFullAccountOnASessionFinishIs72() throws {
        let w = try World()
        try restoredWithAWrite(w, padding: 5_000_000)  // over one 4 MiB chunk: an upload session
        w.fake.extra = ["space_quota": 1000]
        try w.fake.write()
        let r = try run(["--backup"], env: w.env(fast.merging(["ENTRYPOINT_UPLOAD_CHUNK_MB": "4"]) { $1 }))
        #expect(r.status == 72, "\(r.output)")
        #expect(r.stderr.contains("the Dropbox account is full"), "\(r.stderr)")
        #expect(w.fake.requests("files/upload_session/finish").count == 1)
        #expect(w.fake.uploaded("/database.db").isEmpty)
    }

    @Test func theTeamUploadCapIs72NotCredentials() throws {
        let w = try World()
        try restoredWithAWrite(w)
        w.fake.extra = ["data_transport_limit": 0]  // the team's upload calls are used up
        try w.fake.write()
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 72, "\(r.output)")
        #expect(r.stderr.contains("monthly data transport (upload) calls") && r.stderr.contains("restores are not affected"), "\(r.stderr)")
        #expect(!r.stderr.contains("lacks permission"), "\(r.stderr)")
    }

    @Test func writeContentionIsRetriedAndNamed() throws {
        let w = try World()
        try restoredWithAWrite(w)
        try w.fake.fault([
            "route": "files/upload", "kind": "status", "status": 429, "headers": ["Retry-After": "0"],
            "body": #"{"error_summary": "too_many_write_operations/..", "error": {"reason": {".tag": "too_many_write_operations"}, "retry_after": 0}}"#,
        ])
        try w.fake.fault([
            "route": "files/upload", "kind": "status", "status": 409,
            "body":
                #"{"error_summary": "path/too_many_write_operations/..", "error": {".tag": "path", "reason": {".tag": "too_many_write_operations"}, "upload_session_id": "s2"}}"#,
        ])
        let r = try run(["--backup"], env: w.env(fast))
        #expect(r.status == 0, "\(r.output)")
        #expect(countLines(r.stderr, containing: "lock contention, not a rate limit") == 2, "\(r.stderr)")
        #expect(w.fake.requests("files/upload").map { $0["status"] as? Int } == [429, 409, 200])
        #expect(try DB.items(try #require(w.fake.uploaded("/database.db").last)) == ["base", "railway"])
    }

    @Test func aChangedTeamRootIs73WithTheNewRoot() throws {
        let w = try World()
        try w.publish(["base"])
        // The account left the team: Dropbox answers the old root with the account's new root info.
        try w.fake.fault([
            "route": "files/get_metadata", "kind": "status", "status": 422,
            "body":
                #"{"error_summary": "invalid_root/..", "error": {".tag": "invalid_root", "invalid_root": {".tag": "user", "root_namespace_id": "3235641", "home_namespace_id": "3235641"}}}"#,
        ])
        let r = try run([], env: w.env(fast))
        #expect(r.status == 73, "\(r.output)")
        let line = lines(r.stderr, containing: "error:")
        #expect(line.count == 1 && line[0].contains("root namespace is now 3235641 (user)") && line[0].contains("DROPBOX_ROOT_NAMESPACE"), "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: w.db))
    }

    /// Dropbox answers 422 only for a refused Dropbox-API-Path-Root: one whose body is not a
    /// PathRootError this binary knows (plain text, or a new tag) is still 73 and stops the start,
    /// never 69, which would start the app on the out-of-date local database.
    @Test func any422StopsTheStartEvenWithALocalDatabase() throws {
        for body in ["Path root error", #"{"error_summary": "other/..", "error": {".tag": "other"}}"#] {
            let w = try World()
            try restoredWithAWrite(w)
            try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 422, "body": body, "times": -1])
            let marker = w.volume.path + "/app-started"
            let r = try run(["/bin/sh", "-c", "touch '\(marker)'"], env: w.env(fast.merging(["DROPBOX_ROOT_NAMESPACE": "7001"]) { $1 }))
            #expect(r.status == 73, "\(r.output)")
            let line = lines(r.stderr, containing: "error:")
            #expect(
                line.count == 1 && line[0].contains("HTTP 422") && line[0].contains("Dropbox-API-Path-Root") && line[0].contains("DROPBOX_ROOT_NAMESPACE"),
                "\(r.stderr)")
            #expect(!FileManager.default.fileExists(atPath: marker), "the app was started: \(r.stderr)")
            #expect(try DB.items(w.db) == ["base", "railway"])
        }
    }

    /// The data transport cap is a 403 on the upload routes only: the same tag on a restore's
    /// get_metadata is a permission problem (77), not "the team used its upload calls; restores
    /// are not affected" (72) said of a restore.
    @Test func invalidAccountTypeOutsideTheUploadRoutesIsNotTheUploadCap() throws {
        let w = try World()
        try w.publish(["base"])
        try w.fake.fault([
            "route": "files/get_metadata", "kind": "status", "status": 403, "times": -1,
            "body":
                #"{"error_summary": "invalid_account_type/feature/.", "error": {".tag": "invalid_account_type", "invalid_account_type": {".tag": "feature"}}}"#,
        ])
        let r = try run([], env: w.env(fast))
        #expect(r.status == 77, "\(r.output)")
        let line = lines(r.stderr, containing: "error:")
        #expect(
            line.count == 1 && line[0].contains("HTTP 403") && !line[0].contains("data transport") && !line[0].contains("restores are not affected"),
            "\(r.stderr)")
    }
}
