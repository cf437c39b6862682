// `entrypoint --merge BASE THEIRS INTO`, the built binary on local files: exit 0 when
// everything merged, 80 when changes were set aside (named, in the conflicts database), 81 when
// refused (one line naming the table; INTO unchanged).
import Foundation
import TestSupport
import Testing

@Suite struct MergeCommandTests {
    let schema = """
        CREATE TABLE customers(id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
        CREATE TABLE bookings(id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL UNIQUE,
          customer_id INTEGER NOT NULL REFERENCES customers(id), slot TEXT NOT NULL);
        INSERT INTO customers(email, name) VALUES ('alice@x', 'Alice');
        INSERT INTO bookings(ref, customer_id, slot) VALUES ('B-1', 1, 'mon');
        """

    func files(ours: String, theirs: String) throws -> (dir: TempDir, base: String, theirs: String, into: String) {
        let dir = TempDir()
        let base = dir.file("base.db")
        let other = dir.file("theirs.db")
        let into = dir.file("app.db")
        try DB.sql(base, schema)
        try FileManager.default.copyItem(atPath: base, toPath: other)
        try FileManager.default.copyItem(atPath: base, toPath: into)
        try DB.sql(into, ours)
        try DB.sql(other, theirs)
        return (dir, base, other, into)
    }

    @Test func everythingMergedIsExitZeroAndTheRekeyIsNamed() throws {
        let f = try files(
            ours: "INSERT INTO bookings(ref, customer_id, slot) VALUES ('B-2', 1, 'tue');",
            theirs: "INSERT INTO bookings(ref, customer_id, slot) VALUES ('B-3', 1, 'wed');")
        let r = try run(["--merge", f.base, f.theirs, f.into], env: [:])
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.sql(f.into, "SELECT ref || ' ' || slot FROM bookings ORDER BY ref") == ["B-1 mon", "B-2 tue", "B-3 wed"])
        #expect(r.stderr.contains("entrypoint: warning: merge: RE-KEYED bookings id=2 -> 3"), "\(r.output)")
        #expect(r.stderr.contains("merge: 1 change taken from the other side, 1 row re-keyed, 0 conflicts set aside"))
        #expect(try DB.sql(f.into, "PRAGMA integrity_check") == ["ok"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path).filter { $0.contains(".conflicts-") }.isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path).contains { $0.hasPrefix("app.db.local-") })
    }

    @Test func aConflictIsExit80AndKeptInTheConflictsDatabase() throws {
        let f = try files(ours: "UPDATE bookings SET slot = 'fri' WHERE ref = 'B-1';", theirs: "UPDATE bookings SET slot = 'sat' WHERE ref = 'B-1';")
        let r = try run(["--merge", f.base, f.theirs, f.into], env: [:])
        #expect(r.status == 80, "\(r.output)")
        let conflicts = try FileManager.default.contentsOfDirectory(atPath: f.dir.path).filter { $0.hasPrefix("app.conflicts-") && $0.hasSuffix(".db") }
        try #require(conflicts.count == 1)
        let path = f.dir.file(conflicts[0])
        #expect(r.stderr.contains("merge: CONFLICT DATA bookings id=1: changed differently on both sides"), "\(r.output)")
        #expect(r.stderr.contains(path), "the line names the conflicts database")
        #expect(try DB.sql(f.into, "SELECT slot FROM bookings") == ["sat"])
        #expect(try DB.sql(path, "SELECT entrypoint_version || ' ' || ref || ' ' || slot FROM bookings") == ["local B-1 fri"])
    }

    @Test func aSchemaChangeIsExit81AndNothingChanges() throws {
        let f = try files(ours: "INSERT INTO bookings(ref, customer_id, slot) VALUES ('B-2', 1, 'tue');", theirs: "ALTER TABLE bookings ADD COLUMN note TEXT;")
        let before = bytes(f.into)
        let r = try run(["--merge", f.base, f.theirs, f.into], env: [:])
        #expect(r.status == 81, "\(r.output)")
        #expect(
            lines(r.stderr, containing: "error:") == [
                "entrypoint: error: table bookings: changed in THEIRS \(f.theirs) since the base BASE \(f.base); a merge needs the same schema on both sides; the merge was refused, nothing was changed"
            ])
        #expect(bytes(f.into) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.dir.path).sorted() == ["app.db", "base.db", "theirs.db"])
    }

    @Test func usage() throws {
        let r = try run(["--merge", "a", "b"], env: [:])
        #expect(r.status == 64 && r.stderr.contains("--merge needs three files"), "\(r.output)")
        let missing = try run(["--merge", "/nonexistent/a", "/nonexistent/b", "/nonexistent/c"], env: [:])
        #expect(missing.status == 64 && missing.stderr.contains("BASE /nonexistent/a does not exist"), "\(missing.output)")
    }
}
