// The merge on small schemas: one side's changes taken, each conflict kind settled (data, not found,
// constraint, foreign key), re-keys, the app's triggers, and the merges it refuses, nothing changed.
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct MergeEngineTests {
    let people = "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT, email TEXT UNIQUE);"
    let three = "INSERT INTO person VALUES (1, 'Ann', 'ann@x'), (2, 'Bob', 'bob@x'), (3, 'Cy', 'cy@x');"

    @Test func changesOfOneSideAreTakenAndColumnsMerge() throws {
        let trio = try MergeTrio(
            people, base: three,
            ours: "UPDATE person SET name = 'Ann O.' WHERE id = 1; DELETE FROM person WHERE id = 3;",
            theirs: "UPDATE person SET email = 'ann@y' WHERE id = 1; UPDATE person SET name = 'Bobby' WHERE id = 2;")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT id || ' ' || name || ' ' || email FROM person ORDER BY id") == ["1 Ann O. ann@y", "2 Bobby bob@x"])
        #expect(report.conflicts.isEmpty && report.rekeys.isEmpty && report.conflictsPath == nil)
        #expect(report.theirs["person"] == ChangeCounts(inserted: 0, updated: 2, deleted: 0))
        #expect(try trio.checks() == ["ok"])
    }

    @Test func dataConflictKeepsTheirsAndSetsOursAside() throws {
        let trio = try MergeTrio(
            people, base: three, ours: "UPDATE person SET name = 'Ann O.' WHERE id = 1; UPDATE person SET name = 'Same' WHERE id = 2;",
            theirs: "UPDATE person SET name = 'Ann T.' WHERE id = 1; UPDATE person SET name = 'Same' WHERE id = 2;")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT name FROM person ORDER BY id") == ["Ann T.", "Same", "Cy"])
        #expect(report.conflicts.map(\.kind) == [.data], "the same change on both sides is no conflict")
        #expect(try trio.conflicts(report, "SELECT kind || ' ' || \"table\" || ' ' || \"key\" FROM entrypoint_conflicts") == ["DATA person id=1"])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || name FROM person") == ["local Ann O."])
        #expect(report.conflictsPath?.contains("/app.conflicts-") == true && report.conflictsPath?.hasSuffix(".db") == true)
    }

    @Test func notFoundRestoresTheirsChangedRow() throws {
        let trio = try MergeTrio(
            people, base: three, ours: "DELETE FROM person WHERE id IN (2, 3);",
            theirs: "UPDATE person SET name = 'Bobby' WHERE id = 2; DELETE FROM person WHERE id = 3;")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT name FROM person ORDER BY id") == ["Ann", "Bobby"])
        #expect(report.conflicts.map(\.kind) == [.notFound], "deleted on both sides is no conflict")
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || name FROM person") == ["local (deleted) Bob"])
    }

    @Test func dataOnADeleteKeepsOursChangedRow() throws {
        let trio = try MergeTrio(people, base: three, ours: "UPDATE person SET name = 'Cyril' WHERE id = 3;", theirs: "DELETE FROM person WHERE id = 3;")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT name FROM person WHERE id = 3") == ["Cyril"])
        #expect(report.conflicts.map(\.kind) == [.data])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || name FROM person") == ["dropbox (deleted) Cy"])
    }

    @Test func conflictOnATextKey() throws {
        let trio = try MergeTrio(
            "CREATE TABLE tag(name TEXT PRIMARY KEY, color TEXT);",
            ours: "INSERT INTO tag VALUES ('vip', 'gold'), ('new', 'green');",
            theirs: "INSERT INTO tag VALUES ('vip', 'red'), ('new', 'green');")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT name || ' ' || color FROM tag ORDER BY name") == ["new green", "vip red"])
        #expect(report.conflicts.map(\.kind) == [.conflict], "an identical insert is taken once")
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || color FROM tag") == ["local gold"])
    }

    @Test func constraintSetsTheirsChangeAside() throws {
        let trio = try MergeTrio(
            people, base: three, ours: "INSERT INTO person VALUES (4, 'Di', 'di@x');", theirs: "INSERT INTO person VALUES (4, 'Dee', 'di@x');")
        let report = try trio.merge()
        // Ours' Di is re-keyed to 5; theirs' Dee (id 4) then breaks UNIQUE(email) and is set aside.
        #expect(report.rekeys == [Rekey(table: "person", column: "id", old: 4, new: 5)])
        #expect(try trio.rows("SELECT id || ' ' || name FROM person WHERE id > 3") == ["5 Di"])
        #expect(report.conflicts.map(\.kind) == [.constraint])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || id || ' ' || name FROM person") == ["dropbox 4 Dee"])
        #expect(try trio.checks() == ["ok"])
    }

    @Test func foreignKeyRestoresADeletedParent() throws {
        let trio = try MergeTrio(
            people + "CREATE TABLE note(id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES person(id), body TEXT);", base: three,
            ours: "DELETE FROM person WHERE id = 3;", theirs: "INSERT INTO note VALUES (1, 3, 'call Cy');")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT name FROM person WHERE id = 3") == ["Cy"])
        #expect(try trio.rows("SELECT body FROM note") == ["call Cy"])
        #expect(report.conflicts.map(\.kind) == [.foreignKey])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || name FROM person") == ["deleted Cy"])
        #expect(try trio.checks() == ["ok"])
    }

    @Test func rekeyMovesOursRowAndItsReferencesOnly() throws {
        let schema =
            people + """
                CREATE TABLE note(id INTEGER PRIMARY KEY AUTOINCREMENT, person_id INTEGER REFERENCES person(id) ON UPDATE CASCADE, body TEXT);
                """
        let trio = try MergeTrio(
            schema, base: three,
            ours: "INSERT INTO person VALUES (4, 'Di', 'di@x'); INSERT INTO note(person_id, body) VALUES (4, 'Di note'), (1, 'Ann note');",
            theirs:
                "INSERT INTO person VALUES (4, 'Ed', 'ed@x'); INSERT INTO note(person_id, body) VALUES (4, 'Ed note'); INSERT INTO note(person_id, body) VALUES (4, 'Ed 2'); DELETE FROM note WHERE body = 'Ed 2';"
        )
        let report = try trio.merge()
        // Ours' note 2 keeps its key: theirs handed 2 out too but deleted that row (no collision).
        #expect(Set(report.rekeys.map { "\($0.table) \($0.old)->\($0.new)" }) == ["person 4->5", "note 1->3"])
        #expect(
            try trio.rows("SELECT n.body || ' ' || p.name FROM note n JOIN person p ON p.id = n.person_id ORDER BY n.body") == [
                "Ann note Ann", "Di note Di", "Ed note Ed",
            ])
        #expect(try trio.rows("SELECT id FROM person WHERE name = 'Ed'") == ["4"], "a key from the other side never changes")
        #expect(try trio.rows("SELECT seq FROM sqlite_sequence WHERE name = 'note'") == ["3"])
        #expect(report.conflicts.isEmpty)
        #expect(try trio.checks() == ["ok"])
    }

    @Test func theAppsTriggersDoNotRunAgain() throws {
        let schema =
            people + """
                CREATE TABLE audit(id INTEGER PRIMARY KEY, what TEXT);
                CREATE TRIGGER person_added AFTER INSERT ON person BEGIN INSERT INTO audit(what) VALUES ('added ' || new.name); END;
                """
        let trio = try MergeTrio(schema, ours: "", theirs: "INSERT INTO person VALUES (1, 'Ann', 'ann@x');")
        try trio.merge()
        #expect(try trio.rows("SELECT what FROM audit") == ["added Ann"])
    }

    @Test func aSchemaChangeIsRefusedAndNothingChanges() throws {
        let trio = try MergeTrio(people, base: three, ours: "UPDATE person SET name = 'X' WHERE id = 1;", theirs: "ALTER TABLE person ADD COLUMN phone TEXT;")
        let before = try Data(contentsOf: URL(fileURLWithPath: trio.ours))
        #expect { try trio.merge() } throws: {
            let e = $0 as! EntrypointError
            return e.code == .mergeRefused && e.message.hasPrefix("table person: changed in theirs since the base") && e.message.contains("nothing was changed")
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: trio.ours)) == before)
        #expect(try FileManager.default.contentsOfDirectory(atPath: trio.dir.path).sorted() == ["app.db", "base.db", "theirs.db"])
    }

    @Test func aTableWithoutKeyIsTakenWholeOrRefused() throws {
        let schema = "CREATE TABLE log(line TEXT); INSERT INTO log VALUES ('a'), ('a');"
        let one = try MergeTrio(schema, ours: "", theirs: "INSERT INTO log VALUES ('b'); DELETE FROM log WHERE rowid = 1;")
        let report = try one.merge()
        #expect(try one.rows("SELECT line FROM log ORDER BY rowid") == ["a", "b"])
        #expect(report.wholeTables == ["log"])
        let both = try MergeTrio(schema, ours: "INSERT INTO log VALUES ('c');", theirs: "INSERT INTO log VALUES ('b');")
        #expect { try both.merge() } throws: {
            let e = $0 as! EntrypointError
            return e.code == .mergeRefused && e.message.hasPrefix("table log: changed on both sides") && e.message.contains("no primary key")
        }
    }

    @Test func withoutRowidTablesMerge() throws {
        let trio = try MergeTrio(
            "CREATE TABLE kv(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;", base: "INSERT INTO kv VALUES ('a', '1'), ('b', '2');",
            ours: "UPDATE kv SET v = '10' WHERE k = 'a'; INSERT INTO kv VALUES ('c', '3');",
            theirs: "DELETE FROM kv WHERE k = 'b'; INSERT INTO kv VALUES ('d', '4');")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT k || v FROM kv ORDER BY k") == ["a10", "c3", "d4"])
        #expect(report.conflicts.isEmpty)
    }

    @Test func aChangedVirtualTableIsRefused() throws {
        let trio = try MergeTrio("CREATE VIRTUAL TABLE doc USING fts4(body);", ours: "", theirs: "INSERT INTO doc VALUES ('hello');")
        #expect { try trio.merge() } throws: {
            let e = $0 as! EntrypointError
            return e.code == .mergeRefused && e.message.hasPrefix("table doc: a virtual table")
        }
    }

    @Test func anInputThatAlreadyFailsTheForeignKeyCheckIsRefused() throws {
        let trio = try MergeTrio(
            people + "CREATE TABLE note(id INTEGER PRIMARY KEY, person_id INTEGER REFERENCES person(id));",
            ours: "INSERT INTO note VALUES (1, 99);", theirs: "")
        #expect { try trio.merge() } throws: {
            let e = $0 as! EntrypointError
            return e.code == .mergeRefused && e.message.contains("already fails PRAGMA foreign_key_check")
        }
    }
}
