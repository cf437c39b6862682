// The main server's pull is the normal restore and keeps its old file as a copy
// when it changed.
import Foundation
import TestSupport
import Testing

/// The main server's side of the round trip is the normal restore, run without a
/// command on the main server's database path while its app is stopped.
@Suite struct MainServerPullTests {
    func mainServer(_ w: World) -> (dir: TempDir, db: String) {
        let dir = TempDir()
        return (dir, dir.file("main.db"))
    }

    func copies(_ dir: TempDir) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).filter { $0.hasPrefix("main.db.local-") }.sorted()
    }

    @Test func pullWithoutARecordTakesDropboxsFileAndKeepsTheOldOne() throws {
        let w = try World()
        let (dir, db) = mainServer(w)
        try DB.make(db, rows: ["main-before-the-outage"])
        // Dropbox holds what Railway uploaded during the emergency.
        try w.publish(["base", "booking-on-railway"])
        let r = try run([], env: w.env(["RAILWAY_DB_PATH": db]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("Restored to \(db)"))
        #expect(r.stderr.contains("KEPT A COPY"), "\(r.stderr)")
        #expect(try DB.items(db) == ["base", "booking-on-railway"])
        let kept = try #require(copies(dir).first)
        #expect(try DB.items(dir.file(kept)) == ["main-before-the-outage"])
    }

    @Test func pullWithAnOldRecordKeepsTheOldFileOnlyWhenItChanged() throws {
        let w = try World()
        let (dir, db) = mainServer(w)
        // The main server took rev 1 from Dropbox once (its record), then wrote to it.
        try w.publish(["rev-1"])
        #expect(try run([], env: w.env(["RAILWAY_DB_PATH": db])).status == 0)
        try DB.sql(db, "INSERT INTO items VALUES ('main-wrote-after')")
        try w.publish(["rev-1", "booking-on-railway"])
        var r = try run([], env: w.env(["RAILWAY_DB_PATH": db]))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(db) == ["rev-1", "booking-on-railway"])
        #expect(r.stderr.contains("KEPT A COPY"), "\(r.stderr)")
        #expect(try DB.items(dir.file(try #require(copies(dir).first))) == ["rev-1", "main-wrote-after"])
        // Unchanged since its last pull: Dropbox's newer file replaces it, no copy is needed.
        try w.publish(["rev-1", "booking-on-railway", "booking-2"])
        r = try run([], env: w.env(["RAILWAY_DB_PATH": db]))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(db) == ["rev-1", "booking-on-railway", "booking-2"])
        #expect(!r.stderr.contains("KEPT A COPY"), "\(r.stderr)")
        #expect(copies(dir).count == 1)
    }
}
