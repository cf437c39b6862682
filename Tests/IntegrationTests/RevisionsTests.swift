// `entrypoint --revisions` lists DROPBOX_DB_PATH's revisions from
// files/list_revisions, newest first; `entrypoint --download REV FILE` fetches one, pinned to its
// rev, verified, written crash-safely, never over an existing file.
import Foundation
import TestSupport
import Testing

@Suite struct RevisionsTests {
    @Test func listsEveryRevisionNewestFirst() throws {
        let w = try World()
        for rows in [["one"], ["one", "two"], ["one", "two", "three"]] { try w.publish(rows) }
        let r = try run(["--revisions"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let rows = r.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(rows.count == 3, "\(r.stdout)")
        // Dropbox's own answer, newest first, field by field.
        let meta = w.fake.requests("files/list_revisions")
        #expect(meta.count == 1)
        let current = try run(["--check"], env: w.env())
        #expect(current.stdout.contains("rev \(rows.first?.first ?? "?")"), "\(current.stdout)")
        for row in rows {
            #expect(row.count == 4 && row[0].count >= 9 && row[1].hasSuffix("Z") && Int(row[2]) != nil && row[3].count == 64, "\(row)")
        }
        #expect(Set(rows.map { $0[0] }).count == 3)
        #expect(r.stderr.contains("3 revisions of /database.db, newest first"), "\(r.stderr)")
    }

    @Test func pagesThroughMoreThanOneAnswer() throws {
        let w = try World()
        let file = try w.publish(["same"])
        // Dropbox keeps every upload as a revision, identical content included (a new rev each).
        w.fake.files[w.remotePath] = Array(repeating: file, count: 103)
        try w.fake.write()
        let r = try run(["--revisions"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stdout.split(separator: "\n").count == 103)
        #expect(w.fake.requests("files/list_revisions").count == 2)
    }

    @Test func downloadsAnOldRevisionVerified() throws {
        let w = try World()
        try w.publish(["old"])
        try w.publish(["old", "new"])
        let list = try run(["--revisions"], env: w.env())
        let oldRev = String(try #require(list.stdout.split(separator: "\n").last?.split(separator: " ").first))
        let out = w.volume.path + "/old.db"
        let r = try run(["--download", oldRev, out], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(out) == ["old"])
        #expect(w.fake.requests("files/download").first?["arg"] as? [String: String] == ["path": "rev:" + oldRev])
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.volume.path) == ["old.db"])
        // Never over an existing file.
        let again = try run(["--download", oldRev, out], env: w.env())
        #expect(again.status == 64 && again.stderr.contains("already exists"), "\(again.output)")
        #expect(try DB.items(out) == ["old"])
    }

    @Test func aCorruptedDownloadLeavesNoFile() throws {
        let w = try World()
        try w.publish(["only"])
        let rev = String(try #require(try run(["--revisions"], env: w.env()).stdout.split(separator: " ").first))
        try w.fake.fault(["route": "files/download", "kind": "corrupt_byte", "offset": 100, "times": -1])
        let out = w.volume.path + "/x.db"
        let r = try run(["--download", rev, out], env: w.env(fast.merging(["ENTRYPOINT_MAX_ATTEMPTS": "2"]) { $1 }))
        #expect(r.status == 65, "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: out))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: w.volume.path)) ?? []).isEmpty)
    }

    /// Starts a throttled --download and returns it once bytes are in its temporary file.
    func downloadInFlight(_ w: World, to out: String) throws -> Runner {
        try w.publish(["big"], padding: 1_000_000)
        let rev = String(try #require(try run(["--revisions"], env: w.env()).stdout.split(separator: " ").first))
        try w.fake.fault(["route": "files/download", "kind": "throttle", "bytes_per_second": 100_000])
        let runner = try Runner(["--download", rev, out], env: w.env())
        let giveUp = Date().addingTimeInterval(20)
        while Date() < giveUp {
            let temps = ((try? FileManager.default.contentsOfDirectory(atPath: w.volume.path)) ?? []).filter { $0.hasPrefix("x.db.entrypoint-download-") }
            if let t = temps.first, ((try? FileManager.default.attributesOfItem(atPath: w.volume.file(t))[.size] as? Int) ?? 0) > 0 { break }
            usleep(20_000)
        }
        return runner
    }

    @Test func stoppedMidDownloadLeavesNothing() throws {
        let w = try World()
        let out = w.volume.file("x.db")
        let runner = try downloadInFlight(w, to: out)
        kill(runner.pid, SIGTERM)
        let r = runner.wait()
        #expect(r.status == 143, "\(r.output)")
        #expect(lines(r.stderr, containing: "error:") == ["entrypoint: error: stopped by SIGTERM; \(out) was not created"], "\(r.stderr)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: w.volume.path)) ?? []).isEmpty)
    }

    @Test func killedMidDownloadNeverLeavesAPartialFile() throws {
        let w = try World()
        let out = w.volume.file("x.db")
        let runner = try downloadInFlight(w, to: out)
        kill(runner.pid, SIGKILL)
        _ = runner.wait()
        #expect(!FileManager.default.fileExists(atPath: out))
        // At most the temporary, under its own name.
        let left = (try? FileManager.default.contentsOfDirectory(atPath: w.volume.path)) ?? []
        #expect(left.count == 1 && left[0].hasPrefix("x.db.entrypoint-download-"), "\(left)")
    }

    @Test func usageErrors() throws {
        let w = try World()
        #expect(try run(["--download", "abc"], env: w.env()).status == 64)
        #expect(try run(["--download", "nothex!!!", "/tmp/x"], env: w.env()).status == 64)
        #expect(try run(["--revisions", "--check"], env: w.env()).status == 64)
        let missing = try run(["--revisions"], env: w.env())
        #expect(missing.status == 66, "\(missing.output)")
    }

    /// A dangling symbolic link at FILE: access(2) follows it and finds nothing, but link(2) meets
    /// the name. It is refused before any download, with a line that says what is there.
    @Test func aDanglingSymlinkAtFileIsRefusedBeforeTheDownload() throws {
        let w = try World()
        try w.publish(["only"])
        let rev = String(try #require(try run(["--revisions"], env: w.env()).stdout.split(separator: " ").first))
        let out = w.volume.file("link.db")
        try FileManager.default.createSymbolicLink(atPath: out, withDestinationPath: w.volume.file("nowhere.db"))
        let r = try run(["--download", rev, out], env: w.env())
        #expect(r.status == 64, "\(r.output)")
        let line = lines(r.stderr, containing: "error:")
        #expect(line.count == 1 && line[0].contains("link.db already exists (a symbolic link)"), "\(r.stderr)")
        #expect(w.fake.requests("files/download").isEmpty)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: out) == w.volume.file("nowhere.db"))
        #expect(!FileManager.default.fileExists(atPath: w.volume.file("nowhere.db")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.volume.path) == ["link.db"])
    }

    /// More revisions than --revisions lists (1000): the listing says so instead of passing the
    /// 1000th for the oldest Dropbox keeps; exactly 1000 says nothing.
    @Test func moreRevisionsThanTheListShowsAreNamed() throws {
        for (count, warned) in [(1003, true), (1000, false)] {
            let w = try World()
            let file = try w.publish(["same"])
            w.fake.files[w.remotePath] = Array(repeating: file, count: count)
            try w.fake.write()
            let r = try run(["--revisions"], env: w.env())
            #expect(r.status == 0, "\(r.output)")
            let listed = r.stdout.split(separator: "\n")
            #expect(listed.count == 1000)
            let warning = lines(r.stderr, containing: "warning: Dropbox keeps older revisions of /database.db than the 1000 newest listed here")
            #expect(warning.count == (warned ? 1 : 0), "\(r.stderr)")
            if warned, let first = warning.first, let oldest = listed.last?.split(separator: " ").first {
                #expect(first.contains(String(oldest)), "\(warning)")
            }
        }
    }

    /// get_metadata("rev:REV") answering another rev: that rev would be downloaded and verified
    /// against its own hash, and reported as REV. Refused before any download.
    @Test func anAnswerForAnotherRevIsRefused() throws {
        let w = try World()
        try w.publish(["old"])
        try w.publish(["old", "new"])
        let rows = try run(["--revisions"], env: w.env()).stdout.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        try #require(rows.count == 2 && rows.allSatisfy { $0.count == 4 })
        let revs = rows.map { $0[0] }
        // The newest rev's FileMetadata, whatever rev was asked for.
        let meta =
            #"{".tag": "file", "name": "database.db", "path_lower": "/database.db", "path_display": "/database.db", "id": "id:x", "server_modified": "\#(rows[0][1])", "rev": "\#(revs[0])", "size": \#(rows[0][2]), "content_hash": "\#(rows[0][3])"}"#
        try w.fake.fault(["route": "files/get_metadata", "kind": "status", "status": 200, "body": meta])
        let out = w.volume.file("old.db")
        let r = try run(["--download", revs[1], out], env: w.env())
        #expect(r.status == 65, "\(r.output)")
        #expect(lines(r.stderr, containing: "error:").first?.contains("answered rev \(revs[0])") == true, "\(r.stderr)")
        #expect(w.fake.requests("files/download").isEmpty)
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
