// A restore keeps no copy of the base (a cold start writes the database once). The base of
// a later merge is the record's rev, downloaded by `rev:` when the merge needs it, verified, and
// removed afterwards; a rev gone from Dropbox's version history makes the merge impossible, and the
// start or the backup does what it does without a base, with nothing lost.
import Foundation
import TestSupport
import Testing

@Suite struct LazyBaseTests {
    /// Publishes the bookings schema plus `sql` as Dropbox's newest revision.
    func publish(_ w: World, _ sql: String = "") throws {
        let file = w.sources.file("rev-\(UUID().uuidString.prefix(8)).db")
        try DB.sql(file, MergeAtStartTests.schema + sql)
        try w.fake.publish(w.remotePath, file)
    }

    var base: (World) -> String { { $0.db + ".entrypoint-base" } }

    /// A cold start, then a booking made here and another one made in Dropbox: both sides changed
    /// since the rev the cold start restored (returned).
    func diverge(_ w: World) throws -> String {
        try publish(w)
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let rev = try #require(record(w)["rev"] as? String)
        try DB.sql(w.db, MergeAtStartTests.book("B-204", "dave@x", "Dave", "thu 08", pay: 30))
        try publish(w, MergeAtStartTests.book("B-104", "carol@x", "Carol", "wed 14"))
        return rev
    }

    func baseDownloads(_ w: World, rev: String) -> Int {
        w.fake.requests("files/download").filter { ($0["arg"] as? [String: Any])?["path"] as? String == "rev:" + rev }.count
    }

    func refs(_ db: String) throws -> [String] { try DB.sql(db, "SELECT ref FROM bookings ORDER BY ref") }

    @Test func aColdStartAndABackupKeepNoBaseAndARestoreRemovesAStaleOne() throws {
        let w = try World()
        try publish(w)
        var r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: base(w)), "the download is written once: no copy of it as the base")
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
        #expect(record(w)["event"] as? String == "restored" && (record(w)["rev"] as? String)?.isEmpty == false, "the record names the rev: the base")
        // An upload keeps no base either (the record's rev, its own upload, is the base), and
        // removes an older one: here one a merge left (a merge keeps its download as the base).
        try FileManager.default.copyItem(atPath: w.db, toPath: base(w))
        try DB.sql(w.db, MergeAtStartTests.book("B-204", "dave@x", "Dave", "thu 08"))
        r = try run(["--backup"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: base(w)), "\(r.output)")
        #expect(w.leftovers().isEmpty, "\(w.leftovers())")
        // A later restore of someone else's rev makes a base describe an old state: it is removed.
        try FileManager.default.copyItem(atPath: w.db, toPath: base(w))
        // Another site restores that upload, writes and uploads: Dropbox moved on, this volume did not.
        let other = TempDir()
        let otherEnv = w.env(["RAILWAY_DB_PATH": other.file("other.db")])
        #expect(try run([], env: otherEnv).status == 0)
        try DB.sql(other.file("other.db"), MergeAtStartTests.book("B-104", "carol@x", "Carol", "wed 14"))
        #expect(try run(["--backup"], env: otherEnv).status == 0)
        r = try run([], env: w.env())
        #expect(r.status == 0 && r.stderr.contains("Restored to"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: base(w)), "\(r.output)")
        #expect(r.stderr.contains("removed the base \(base(w))"), "\(r.output)")
    }

    @Test func aDivergenceAfterAColdStartMergesWithTheBaseDownloadedByRev() throws {
        let w = try World()
        let rev = try diverge(w)
        // --check previews the merge with the base downloaded too, and leaves nothing behind.
        let files = try FileManager.default.contentsOfDirectory(atPath: w.volume.path + "/database").sorted()
        let check = try run(["--check"], env: w.env())
        #expect(check.status == 0, "\(check.output)")
        #expect(check.stdout.contains("whose base would be downloaded by rev \(rev)"), "\(check.stdout)")
        #expect(check.stdout.contains("merge preview: downloading the base, Dropbox's rev \(rev)"), "\(check.stdout)")
        #expect(check.stdout.contains("merge preview: merge: "), "\(check.stdout)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: w.volume.path + "/database").sorted() == files)
        #expect(baseDownloads(w, rev: rev) == 2, "the cold start's download, then --check's")
        // The start merges: the base is Dropbox's rev the cold start restored, downloaded again.
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("merge: downloading the base, Dropbox's rev \(rev)"), "\(r.output)")
        #expect(r.stderr.contains("Merged Dropbox's rev"), "\(r.output)")
        #expect(baseDownloads(w, rev: rev) == 3, "the fake's request log shows the start's rev: download")
        #expect(try refs(w.db) == ["B-101", "B-102", "B-103", "B-104", "B-204"])
        #expect(try DB.sql(w.db, "PRAGMA integrity_check") == ["ok"] && DB.sql(w.db, "PRAGMA foreign_key_check").isEmpty)
        #expect(!w.leftovers().contains { $0.contains("entrypoint-base-tmp") }, "the downloaded base is removed: \(w.leftovers())")
        #expect(FileManager.default.fileExists(atPath: base(w)), "after a merge the download is the base (a hard link)")
    }

    @Test func aBaseGoneFromDropboxsHistoryFallsBackWithNothingLost() throws {
        let w = try World()
        let rev = try diverge(w)
        w.fake.extra["history_kept"] = 1  // Dropbox keeps only the current revision now
        try w.fake.write()
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let line = try #require(lines(r.stderr, containing: "cannot merge: the base, Dropbox's rev \(rev), cannot be had").first, "\(r.output)")
        #expect(line.hasPrefix("entrypoint: warning: ") && line.contains("path/not_found") && line.contains("keeping the local database as a copy"))
        #expect(r.stderr.contains("KEPT A COPY"), "\(r.output)")
        #expect(try refs(w.db) == ["B-101", "B-102", "B-103", "B-104"], "Dropbox's file is installed")
        let kept = try #require(w.leftovers().first { $0.hasPrefix("production.db.local-") && !$0.contains("-wal") && !$0.contains("-journal") })
        #expect(try refs(w.volume.path + "/database/" + kept) == ["B-101", "B-102", "B-103", "B-204"], "the local database is kept")
        #expect(!w.leftovers().contains { $0.contains("entrypoint-base-tmp") }, "\(w.leftovers())")
    }

    @Test func dropboxFailingWhileTheBaseDownloadsStartsOnTheLocalDatabaseNotRolledBack() throws {
        let w = try World()
        let rev = try diverge(w)
        let before = baseDownloads(w, rev: rev)  // the cold start's pinned download of that rev
        // Dropbox has just served its rev and its metadata, then fails every download of the base.
        try w.fake.fault(["route": "files/download", "path": "rev:" + rev, "kind": "status", "status": 503, "times": -1])
        let r = try run([], env: w.env(fast.merging(["ENTRYPOINT_MAX_ATTEMPTS": "3"]) { $1 }))
        #expect(r.status == 0, "\(r.output)")
        #expect(baseDownloads(w, rev: rev) == before + 3, "\(w.fake.requests("files/download"))")
        let line = try #require(lines(r.stderr, containing: "starting on the existing local database").first, "\(r.output)")
        #expect(line.hasPrefix("entrypoint: warning: ") && line.contains("HTTP 503"), "\(line)")
        #expect(!r.stderr.contains("cannot merge") && !r.stderr.contains("KEPT A COPY"), "\(r.output)")
        #expect(try refs(w.db) == ["B-101", "B-102", "B-103", "B-204"], "the running site's database is not replaced by Dropbox's")
        #expect(w.leftovers().isEmpty, "no copy, no temporary: \(w.leftovers())")
    }

    @Test func aKillDuringTheBaseDownloadLeavesOnlyATemporary() throws {
        let w = try World()
        let rev = try diverge(w)
        let before = bytes(w.db)
        let killed = try run([], env: w.env(["ENTRYPOINT_TEST_CRASH_AT": "base-downloaded"]))
        #expect(killed.status == 137 || killed.status == -9 || killed.status == 9, "\(killed.output)")
        #expect(bytes(w.db) == before, "the database is untouched")
        #expect(w.leftovers().contains { $0.hasPrefix("production.db.entrypoint-base-tmp-") }, "\(w.leftovers())")
        #expect(!FileManager.default.fileExists(atPath: base(w)), "the temporary is never named the base")
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("production.db.entrypoint-base-tmp-") && r.stderr.contains("left by an interrupted start"), "\(r.output)")
        #expect(r.stderr.contains("merge: downloading the base, Dropbox's rev \(rev)"), "\(r.output)")
        #expect(try refs(w.db) == ["B-101", "B-102", "B-103", "B-104", "B-204"])
        #expect(!w.leftovers().contains { $0.contains("entrypoint-base-tmp") }, "\(w.leftovers())")
    }

    @Test func mergeOnUploadFetchesTheBaseByRev() throws {
        let w = try World()
        let rev = try diverge(w)
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("merging its changes into"), "\(r.output)")
        #expect(r.stderr.contains("merge: downloading the base, Dropbox's rev \(rev)"), "\(r.output)")
        #expect(r.stderr.contains("Backed up"), "\(r.output)")
        #expect(baseDownloads(w, rev: rev) == 2, "the cold start's download, then the backup's")
        #expect(try refs(w.db) == ["B-101", "B-102", "B-103", "B-104", "B-204"])
        let uploaded = try #require(w.fake.uploaded(w.remotePath).last)
        #expect(try refs(uploaded) == ["B-101", "B-102", "B-103", "B-104", "B-204"], "Dropbox's file holds both sides' bookings")
        #expect(!w.leftovers().contains { $0.contains("entrypoint-base-tmp") }, "\(w.leftovers())")
    }

    @Test func mergeOnUploadWithTheBaseGoneKeepsASideCopyOrRefuses() throws {
        let w = try World()
        let rev = try diverge(w)
        w.fake.extra["history_kept"] = 1
        try w.fake.write()
        let before = bytes(w.db)
        var r = try run(["--backup", "--merge"], env: w.env())
        #expect(r.status == 76, "\(r.output)")
        #expect(r.stderr.contains("warning: the base, Dropbox's rev \(rev), cannot be had"), "\(r.output)")
        #expect(bytes(w.db) == before)
        r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let line = try #require(lines(r.stderr, containing: "failback").first, "\(r.output)")
        #expect(line.contains("it cannot be merged: the base, Dropbox's rev \(rev), cannot be had"), "\(line)")
        #expect(try refs(w.db) == ["B-101", "B-102", "B-103", "B-204"], "nothing merged, nothing lost")
        #expect(!w.leftovers().contains { $0.contains("entrypoint-base-tmp") }, "\(w.leftovers())")
    }
}
