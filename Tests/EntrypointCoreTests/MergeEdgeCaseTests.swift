// The merge's edge cases, each found by attacking it from outside and each once a failure (a raw
// SQL error and exit 74, a truncated value, a lock error, a refused merge) where the merge must
// merge or set aside: a row set aside with its children, NUL bytes in TEXT, BASE given as THEIRS,
// WITHOUT ROWID children, replacements that break UNIQUE, a parent named in another case, INTO a link.
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

/// Edge cases found by attacking the merge from outside: each once failed (a raw SQL error and exit
/// 74, a truncated value, a lock error) where the merge must merge or set aside.
@Suite struct MergeEdgeCaseTests {
    let bookings = """
        CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT);
        CREATE TABLE booking(id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT UNIQUE NOT NULL, customer_id INTEGER REFERENCES customer(id));
        CREATE TABLE payment(id INTEGER PRIMARY KEY, booking_id INTEGER NOT NULL REFERENCES booking(id), amount REAL);
        INSERT INTO customer VALUES (1, 'Ann'), (2, 'Bob');
        INSERT INTO booking VALUES (100, 'R100', 1);
        """

    /// THEIRS' booking loses a UNIQUE collision (set aside) while THEIRS' payment points at it: the
    /// booking cannot come back, so the payment is set aside with it (it used to fail the whole
    /// merge with "UNIQUE constraint failed" and exit 74).
    @Test func aChildOfARowSetAsideIsSetAsideToo() throws {
        let trio = try MergeTrio(
            bookings, ours: "INSERT INTO booking VALUES (101, 'X', 1);",
            theirs: "INSERT INTO booking VALUES (101, 'Y', 2), (102, 'X', 2); INSERT INTO payment VALUES (1, 102, 9.5);")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT id || ' ' || ref FROM booking ORDER BY id") == ["100 R100", "101 Y", "103 X"])
        #expect(try trio.rows("SELECT count(*) FROM payment") == ["0"])
        #expect(report.conflicts.map(\.kind) == [.constraint, .foreignKey])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || ref FROM booking") == ["dropbox X"])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || booking_id || ' ' || amount FROM payment") == ["merged 102 9.5"])
        #expect(try trio.checks() == ["ok"])
    }

    /// A local row points at a row THEIRS deleted through two foreign keys (its id and a UNIQUE
    /// code): the row comes back once, its deletion set aside once (the second violation of the
    /// same round used to insert it again: "UNIQUE constraint failed", exit 74).
    @Test func twoForeignKeysToOneDeletedRowRestoreItOnce() throws {
        let trio = try MergeTrio(
            """
            CREATE TABLE p(id INTEGER PRIMARY KEY, code TEXT UNIQUE);
            CREATE TABLE c(id INTEGER PRIMARY KEY, pcode TEXT REFERENCES p(code), pid INTEGER REFERENCES p(id));
            INSERT INTO p VALUES (1, 'A'), (2, 'B');
            """,
            ours: "INSERT INTO c VALUES (1, 'B', 2);", theirs: "DELETE FROM p WHERE id = 2;")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT id || ' ' || code FROM p ORDER BY id") == ["1 A", "2 B"])
        #expect(try trio.rows("SELECT id || ' ' || pcode || ' ' || pid FROM c") == ["1 B 2"])
        #expect(report.conflicts.map(\.kind) == [.foreignKey])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || id FROM p") == ["deleted 2"])
        #expect(try trio.checks() == ["ok"])
    }

    /// TEXT may hold NUL bytes (and bytes that are not UTF-8): a row the merge restores and a row it
    /// sets aside keep every byte (they used to be cut at the first NUL).
    @Test func textWithNulBytesKeepsEveryByte() throws {
        let trio = try MergeTrio(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);", base: "INSERT INTO t VALUES (1, 'a'), (2, 'b');",
            ours: "DELETE FROM t WHERE id = 1; UPDATE t SET v = CAST(x'780079' AS TEXT) WHERE id = 2;",
            theirs: "UPDATE t SET v = CAST(x'61006200ff' AS TEXT) WHERE id = 1; UPDATE t SET v = 'z' WHERE id = 2;")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT id || ' ' || hex(v) FROM t ORDER BY id") == ["1 61006200FF", "2 7A"])
        #expect(Set(report.conflicts.map(\.kind)) == [.data, .notFound] && report.conflicts.count == 2)
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || hex(v) FROM t WHERE id = 2") == ["local 780079"])
    }

    /// OURS deleted a row THEIRS changed, and THEIRS' row cannot come back: its UNIQUE email now
    /// belongs to a row OURS inserted. OURS' rows stay; THEIRS' row is set aside (CONSTRAINT) beside
    /// the deleted one, once, and the merge goes on.
    @Test func aRestoredRowThatBreaksUniqueIsSetAside() throws {
        let trio = try MergeTrio(
            "CREATE TABLE person(id INTEGER PRIMARY KEY, name TEXT, email TEXT UNIQUE);",
            base: "INSERT INTO person VALUES (1, 'Ann', 'ann@x'), (2, 'Bob', 'bob@x');",
            ours: "DELETE FROM person WHERE id = 2; INSERT INTO person VALUES (3, 'Bea', 'bea@x');",
            theirs: "UPDATE person SET name = 'Bobby', email = 'bea@x' WHERE id = 2;")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT id || ' ' || name FROM person ORDER BY id") == ["1 Ann", "3 Bea"])
        #expect(report.conflicts.map(\.kind) == [.constraint])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || name FROM person ORDER BY name") == ["local (deleted) Bob", "dropbox Bobby"])
        #expect(try trio.checks() == ["ok"])
    }

    /// BASE and THEIRS the same file (given twice, or hard links): nothing changed on THEIRS' side,
    /// OURS' changes stay (it used to fail with "database is locked", exit 74).
    @Test func baseGivenAlsoAsTheirsMerges() throws {
        let trio = try MergeTrio(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);", base: "INSERT INTO t VALUES (1, 'a');",
            ours: "INSERT INTO t VALUES (2, 'o');", theirs: "")
        let link = trio.dir.file("base-link.db")
        try FileManager.default.linkItem(atPath: trio.base, toPath: link)
        for theirs in [trio.base, link] {
            let report = try trio.merge(theirs: theirs)
            #expect(report.conflicts.isEmpty && report.theirs.isEmpty)
            #expect(try trio.rows("SELECT id || ' ' || v FROM t ORDER BY id") == ["1 a", "2 o"])
        }
    }

    /// A WITHOUT ROWID table's row points at a row the other side deleted: foreign_key_check names
    /// it with a NULL rowid; it is found by its primary key and settled like any other (the whole
    /// merge used to be refused, exit 81).
    @Test func aWithoutRowidChildIsSettledByItsKey() throws {
        let trio = try MergeTrio(
            """
            CREATE TABLE p(id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE c(k TEXT PRIMARY KEY, pid INTEGER REFERENCES p(id), q INTEGER REFERENCES p(id)) WITHOUT ROWID;
            INSERT INTO p VALUES (1, 'a'), (2, 'b');
            """,
            ours: "DELETE FROM p WHERE id = 2;", theirs: "INSERT INTO c VALUES ('x', 2, 2), ('y', 1, NULL), ('z', NULL, 2);")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT id || ' ' || name FROM p ORDER BY id") == ["1 a", "2 b"])
        #expect(try trio.rows("SELECT k FROM c ORDER BY k") == ["x", "y", "z"])
        #expect(report.conflicts.map(\.kind) == [.foreignKey])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || id FROM p") == ["deleted 2"])
        #expect(try trio.checks() == ["ok"])
    }

    /// Both sides inserted text key 'k'; THEIRS' row breaks a UNIQUE value of another local row.
    /// SQLite's REPLACE deleted OURS' row, failed THEIRS' and left neither in the database; now
    /// OURS' row stays and THEIRS' is set aside (the CONSTRAINT rule), once.
    @Test func aReplacementThatBreaksUniqueKeepsOursRow() throws {
        let trio = try MergeTrio(
            "CREATE TABLE s(k TEXT PRIMARY KEY, u TEXT UNIQUE, v TEXT);", base: "INSERT INTO s VALUES ('a', 'ua', 'va');",
            ours: "INSERT INTO s VALUES ('k', 'u1', 'o'), ('m', 'u2', 'o');", theirs: "INSERT INTO s VALUES ('k', 'u2', 't'), ('n', 'un', 't');")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT k || ' ' || u || ' ' || v FROM s ORDER BY k") == ["a ua va", "k u1 o", "m u2 o", "n un t"])
        #expect(report.conflicts.map(\.kind) == [.constraint])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || k || ' ' || u FROM s") == ["dropbox k u2"])
    }

    /// THEIRS' update of a row OURS changed too (DATA) breaks a UNIQUE value: SQLite retries it
    /// and reports DATA once per round, then CONSTRAINT. One record: OURS' row stays, THEIRS' set
    /// aside (it used to be several DATA records saying the opposite).
    @Test func aDataConflictThatBreaksUniqueIsOneConstraintRecord() throws {
        let trio = try MergeTrio(
            "CREATE TABLE s(k TEXT PRIMARY KEY, u TEXT UNIQUE, v TEXT);", base: "INSERT INTO s VALUES ('a', 'ua', 'va');",
            ours: "UPDATE s SET v = 'ours' WHERE k = 'a'; INSERT INTO s VALUES ('m', 'u1', 'o');",
            theirs: "UPDATE s SET v = 'theirs', u = 'u1' WHERE k = 'a';")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT k || ' ' || u || ' ' || v FROM s ORDER BY k") == ["a ua ours", "m u1 o"])
        #expect(report.conflicts.map(\.kind) == [.constraint])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || u || ' ' || v FROM s") == ["dropbox u1 theirs"])
    }

    /// `REFERENCES Customer(id)` names table `customer` (SQLite's names ignore case), and
    /// foreign_key_check reports the parent as the clause spells it: the deleted customer comes back
    /// (the whole merge used to be refused, exit 81).
    @Test func aParentNamedInAnotherCaseIsFound() throws {
        let trio = try MergeTrio(
            """
            CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE booking(id INTEGER PRIMARY KEY, cid INTEGER REFERENCES Customer(id));
            INSERT INTO customer VALUES (1, 'a'), (2, 'b');
            """,
            ours: "DELETE FROM customer WHERE id = 2;", theirs: "INSERT INTO booking VALUES (1, 2);")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT id FROM customer ORDER BY id") == ["1", "2"])
        #expect(report.conflicts.map(\.kind) == [.foreignKey])
        #expect(try trio.checks() == ["ok"])
    }

    /// INTO a symbolic link: the rename would replace the link, not the database the app opens, and
    /// the kept copy would be a link to the live file. Refused as a usage error, nothing changed.
    @Test func intoASymbolicLinkIsRefused() throws {
        let trio = try MergeTrio(
            "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT);", base: "INSERT INTO t VALUES (1, 'a');",
            ours: "", theirs: "INSERT INTO t VALUES (2, 't');")
        let link = trio.dir.file("link.db")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: trio.ours)
        let mode = MergeMode(base: trio.base, theirs: trio.theirs, into: link, log: MergeTrio.quiet)
        #expect(throws: EntrypointError.self) { try mode.run() }
        do { _ = try mode.run() } catch { #expect(error.code == .usage && error.message.contains("symbolic link")) }
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == trio.ours)
        #expect(try trio.rows("SELECT count(*) FROM t") == ["1"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: trio.dir.path).filter { $0.contains(".local-") }.isEmpty)
    }
}
