// `--backup --auto` (the supervisor's periodic and stop backups) uploads
// nothing when the data did not change, never overwrites a Dropbox file that moved on, and never
// drops this volume's writes. It merges such a file (AutoBackupMergeTests); the `items`
// table here has no primary key, so when both sites changed it the merge is refused and this
// volume's data goes beside it as <stem>.failback-<UTC time><ext>: one copy per divergence,
// updated in place.
import Foundation
import TestSupport
import Testing

@Suite struct AutoBackupTests {
    static let upload = ["files/upload", "files/upload_session/start", "files/upload_session/append_v2", "files/upload_session/finish"]

    func uploads(_ w: World) -> [[String: Any]] { w.fake.requests().filter { Self.upload.contains($0["route"] as? String ?? "") } }

    func record(_ path: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path + ".entrypoint.json"))) as? [String: Any])
    }

    /// The data hash of a database (DataHash: the content hash with the volatile page-1 header fields
    /// zeroed), computed with `entrypoint --hash` on a masked copy.
    func dataHash(_ path: String) throws -> String {
        var data = try #require(bytes(path))
        for range in [18..<20, 24..<28, 40..<44, 92..<100] where range.upperBound <= data.count {
            for i in range { data[i] = 0 }
        }
        let dir = TempDir()
        try data.write(to: URL(fileURLWithPath: dir.file("masked")))
        let r = try run(["--hash", dir.file("masked")], env: [:])
        return try #require(r.stdout.split(separator: " ").first.map(String.init))
    }

    /// Restores Dropbox's file onto the volume. The record says which data the volume holds (its
    /// data_hash), as the restore writes it; a record without one gets it here.
    func restored(_ w: World, rows: [String] = ["base"]) throws {
        try w.publish(rows)
        let r = try run([], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        var rec = try record(w.db)
        if rec["data_hash"] == nil {
            rec["data_hash"] = try dataHash(w.db)
            try JSONSerialization.data(withJSONObject: rec).write(to: URL(fileURLWithPath: w.db + ".entrypoint.json"))
        }
    }

    /// The side copies the fake holds for /database.db, by path.
    func sideCopies(_ w: World) -> [String: [String]] {
        guard let data = FileManager.default.contents(atPath: w.fake.state.file("uploaded.json")),
            let json = try? JSONSerialization.jsonObject(with: data) as? [String: [String]]
        else { return [:] }
        return json.filter { $0.key.hasPrefix("/database.failback-") }
    }

    static let sideName = #"/database\.failback-[0-9]{8}T[0-9]{6}Z(-[0-9]+)?\.db"#

    /// The side copy the warning line names (not a name an earlier "already exists" line tried).
    func sidePath(in text: String) -> String? {
        guard let marker = text.range(of: "uploaded this database beside it as ") else { return nil }
        let rest = text[marker.upperBound...]
        return rest.range(of: Self.sideName, options: [.regularExpression, .anchored]).map { String(rest[$0]) }
    }

    @Test func unchangedDataUploadsNothing() throws {
        let w = try World()
        try restored(w)
        // Nothing written since the restore: the snapshot's data is the installed file's.
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let rev = try #require(try record(w.db)["rev"] as? String)
        #expect(r.stderr.contains("backup: no change since rev \(rev); nothing uploaded"), "\(r.stderr)")
        #expect(uploads(w).isEmpty)
        #expect(w.fake.uploaded("/database.db").isEmpty)
        // Dropbox's file moved on meanwhile: this volume wrote nothing since the state it shared, so
        // it has nothing of its own to add (a merge would give Dropbox's file itself): nothing is
        // uploaded, beside it or over it, and no "reconcile by hand" warning.
        try w.publish(["main-server"])
        let moved = try run(["--backup", "--auto"], env: w.env())
        #expect(moved.status == 0, "\(moved.output)")
        #expect(moved.stderr.contains("backup: Dropbox's /database.db moved on since rev \(rev) (now rev "), "\(moved.stderr)")
        #expect(moved.stderr.contains("and this volume has written nothing since; nothing uploaded"), "\(moved.stderr)")
        #expect(!moved.stderr.contains("warning:"), "\(moved.stderr)")
        #expect(sideCopies(w).isEmpty)
        #expect(uploads(w).isEmpty)
        #expect(w.fake.uploaded("/database.db").isEmpty)
    }

    @Test func changedDataIsUploadedOnceRevGuarded() throws {
        let w = try World()
        try restored(w)
        try DB.sql(w.db, "INSERT INTO items VALUES ('written-on-railway')")
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("Backed up \(w.db) to /database.db"), "\(r.stderr)")
        let upload = try #require(uploads(w).last)
        #expect((upload["arg"] as? [String: Any])?["mode"] as? [String: Any] != nil, "update mode: \(upload)")
        #expect(try DB.items(try #require(w.fake.uploaded("/database.db").last)) == ["base", "written-on-railway"])
        // The next interval without a write uploads nothing.
        let count = uploads(w).count
        let again = try run(["--backup", "--auto"], env: w.env())
        #expect(again.status == 0, "\(again.output)")
        #expect(uploads(w).count == count)
        #expect(w.fake.uploaded("/database.db").count == 1)
    }

    @Test func refusedMergeGetsOneSideCopyUpdatedInPlace() throws {
        let w = try World()
        try restored(w)
        let restoredRev = try #require(try record(w.db)["rev"] as? String)
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway-1')")
        // The main server is back and uploads its own database.
        let main = try w.publish(["main-server"])
        let mainBytes = try #require(bytes(main))
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let warning = try #require(r.stderr.split(separator: "\n").first { $0.contains("warning:") }.map(String.init), "\(r.stderr)")
        let side = try #require(sidePath(in: warning), "\(warning)")
        #expect(
            warning.hasPrefix("entrypoint: warning: Dropbox's /database.db changed since this volume's last restore (rev \(restoredRev), now rev "),
            "\(warning)")
        #expect(warning.contains("), and it cannot be merged: table items: changed on both sides since the base and it has no primary key"), "\(warning)")
        #expect(warning.contains(": uploaded this database beside it as \(side) (rev "), "\(warning)")
        #expect(warning.contains("nothing was overwritten. Reconcile by hand (docs/operations.md"), "\(warning)")
        #expect(r.stderr.split(separator: "\n").filter { $0.contains("warning:") }.count == 1, "one loud line: \(r.stderr)")
        // The side copy, uploaded with mode add and autorename off, holds this volume's writes.
        let sideUpload = try #require(uploads(w).last?["arg"] as? [String: Any])
        #expect(sideUpload["path"] as? String == side)
        #expect(sideUpload["mode"] as? String == "add" || (sideUpload["mode"] as? [String: Any])?[".tag"] as? String == "add")
        #expect(sideUpload["autorename"] as? Bool == false)
        let copy = try #require(sideCopies(w)[side.lowercased()]?.last)
        #expect(try DB.items(copy) == ["base", "railway-1"])
        #expect(DB.integrity(copy) == "ok")
        // Dropbox's own file is untouched: no upload to it, its bytes as the main server left them.
        #expect(w.fake.uploaded("/database.db").isEmpty)
        #expect(!uploads(w).contains { ($0["arg"] as? [String: Any])?["path"] as? String == "/database.db" })
        #expect(bytes(main) == mainBytes)
        // The record still describes what this volume restored, not the side copy.
        #expect(try record(w.db)["rev"] as? String == restoredRev)

        // The next interval without a write uploads nothing, beside or over it.
        var count = uploads(w).count
        let again = try run(["--backup", "--auto"], env: w.env())
        #expect(again.status == 0, "\(again.output)")
        #expect(again.stderr.contains("backup: no change since the failback copy \(side)"), "\(again.stderr)")
        #expect(uploads(w).count == count)
        #expect(sideCopies(w).count == 1)

        // A manual --backup keeps its contract: refused, exit 76, the --force hint; nothing uploaded.
        let manual = try run(["--backup"], env: w.env())
        #expect(manual.status == 76, "\(manual.output)")
        #expect(manual.stderr.contains("Use --backup --force to overwrite it"))
        #expect(uploads(w).count == count)

        // New writes in the same divergence: the same side copy is updated in place (update mode on
        // its rev), with everything; no second copy (one per volume and divergence).
        let sideRev = try #require(sideCopies(w)[side.lowercased()]).count
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway-2')")
        let more = try run(["--backup", "--auto"], env: w.env())
        #expect(more.status == 0, "\(more.output)")
        #expect(more.stderr.contains("updated this volume's copy beside it, \(side) (rev "), "\(more.stderr)")
        #expect(sideCopies(w).count == 1, "one side copy: \(sideCopies(w).keys)")
        let versions = try #require(sideCopies(w)[side.lowercased()])
        #expect(versions.count == sideRev + 1)
        #expect(try DB.items(try #require(versions.last)) == ["base", "railway-1", "railway-2"])
        let update = try #require(uploads(w).last?["arg"] as? [String: Any])
        #expect(update["path"] as? String == side)
        #expect((update["mode"] as? [String: Any])?[".tag"] as? String == "update", "rev-guarded: \(update)")
        #expect(w.fake.uploaded("/database.db").isEmpty)
        count = uploads(w).count
        #expect(count >= 2)

        // A later restore still sees this volume's database as changed: it keeps it as a copy.
        let restore = try run([], env: w.env())
        #expect(restore.status == 0, "\(restore.output)")
        #expect(restore.stderr.contains("KEPT A COPY"), "\(restore.stderr)")
        let kept = try #require(w.leftovers().first { $0.hasPrefix("production.db.local-") && !$0.contains("-wal") })
        #expect(try DB.items(w.volume.path + "/database/" + kept) == ["base", "railway-1", "railway-2"])
        #expect(try DB.items(w.db) == ["main-server"])
    }

    @Test func noRecordButARemoteFileGetsASideCopy() throws {
        let w = try World()
        try w.publish(["dropbox"])
        try w.localDatabase(["local-only"])
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("is not known to this volume (\(w.db).entrypoint.json is missing): uploaded this database beside it as"), "\(r.stderr)")
        let side = try #require(sidePath(in: r.stderr))
        #expect(try DB.items(try #require(sideCopies(w)[side.lowercased()]?.last)) == ["local-only"])
        #expect(w.fake.uploaded("/database.db").isEmpty)
        // Still no record of Dropbox's file: a restore keeps this database as a copy.
        #expect(!FileManager.default.fileExists(atPath: w.db + ".entrypoint.json"))
    }

    @Test func anIDPathGetsItsSideCopyBesideTheRealPath() throws {
        let w = try World()
        // The fake's file ids are "id:" + the first 22 hex digits of sha1(path_lower).
        let id = try Spawned(
            "/usr/bin/env", ["python3", "-c", "import hashlib; print('id:' + hashlib.sha1(b'/database.db').hexdigest()[:22])"],
            env: ProcessInfo.processInfo.environment)
        let out = id.finish(timeout: 30)
        try w.publish(["base"])
        w.remotePath = String(decoding: out.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(w.remotePath.hasPrefix("id:"))
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway')")
        try w.publish(["main-server"], at: "/database.db")
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let side = try #require(sidePath(in: r.stderr), "\(r.stderr)")
        #expect(try DB.items(try #require(sideCopies(w)[side.lowercased()]?.last)) == ["base", "railway"])
    }

    @Test func conflictOnTheUploadItselfGoesBeside() throws {
        let w = try World()
        try restored(w)
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway')")
        // The upload is held for 12 s (a generous margin on a loaded machine); the main server
        // uploads meanwhile, so Dropbox refuses the update-mode commit (its rev is no longer current).
        try w.fake.fault(["route": "files/upload", "path": "/database.db", "kind": "delay", "seconds": 12])
        let before = w.fake.requests("files/get_metadata").count
        let backup = try Runner(["--backup", "--auto"], env: w.env())
        let giveUp = Date().addingTimeInterval(30)
        while w.fake.requests("files/get_metadata").count <= before && Date() < giveUp { usleep(25_000) }
        let main = try w.publish(["main-server"])
        let mainBytes = try #require(bytes(main))
        // Any request makes the fake read its new config, also for the upload it is holding.
        _ = try run(["--check"], env: w.env())
        let r = backup.wait(timeout: 90)
        #expect(r.status == 0, "\(r.output)")
        #expect(w.fake.requests("files/upload").contains { $0["status"] as? Int == 409 }, "Dropbox refused the update")
        // The next round merges Dropbox's newer file; `items` has no primary key, so that is refused.
        #expect(r.stderr.contains("warning: Dropbox's /database.db changed since this volume's last restore (rev "), "\(r.stderr)")
        #expect(r.stderr.contains("and it cannot be merged: table items:"), "\(r.stderr)")
        let side = try #require(sidePath(in: r.stderr), "\(r.stderr)")
        #expect(try DB.items(try #require(sideCopies(w)[side.lowercased()]?.last)) == ["base", "railway"])
        #expect(w.fake.uploaded("/database.db").isEmpty)
        #expect(bytes(main) == mainBytes)
    }

    @Test func aTakenSideNameIsNeverOverwritten() throws {
        let w = try World()
        try restored(w)
        try DB.sql(w.db, "INSERT INTO items VALUES ('railway')")
        try w.publish(["main-server"])
        // Someone else's files already hold every side name of the next two minutes.
        let other = w.sources.file("other.db")
        try DB.make(other, rows: ["someone-else"])
        let otherBytes = try #require(bytes(other))
        let format = DateFormatter()
        format.locale = Locale(identifier: "en_US_POSIX")
        format.timeZone = TimeZone(identifier: "UTC")
        format.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let now = Date()
        for s in -2...120 {
            w.fake.files["/database.failback-\(format.string(from: now.addingTimeInterval(Double(s)))).db"] = [other]
        }
        try w.fake.write()
        let r = try run(["--backup", "--auto"], env: w.env())
        #expect(r.status == 0, "\(r.output)")
        let side = try #require(sidePath(in: r.stderr.split(separator: "\n").first { $0.contains("warning:") }.map(String.init) ?? ""), "\(r.stderr)")
        #expect(side.hasSuffix("-2.db"), "the next free name: \(side)")
        #expect(r.stderr.contains("already exists in Dropbox with other content; trying the next name"))
        #expect(try DB.items(try #require(sideCopies(w)[side.lowercased()]?.last)) == ["base", "railway"])
        #expect(bytes(other) == otherBytes)
        #expect(sideCopies(w).count == 1, "only the new name was written: \(sideCopies(w).keys)")
    }
}
