import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

/// A realistic app: customers, bookings with AUTOINCREMENT ids and a UNIQUE reference, payments with
/// declared foreign keys. Both sites wrote since the base; everything is checked by natural keys
/// (email, booking reference), never by ids.
@Suite struct MergeBookingsTests {
    static let schema = """
        PRAGMA foreign_keys = ON;
        CREATE TABLE customers(id INTEGER PRIMARY KEY AUTOINCREMENT, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
        CREATE TABLE bookings(id INTEGER PRIMARY KEY AUTOINCREMENT, ref TEXT NOT NULL UNIQUE,
          customer_id INTEGER NOT NULL REFERENCES customers(id) ON UPDATE CASCADE ON DELETE CASCADE,
          slot TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'booked');
        CREATE TABLE payments(id INTEGER PRIMARY KEY AUTOINCREMENT,
          booking_id INTEGER NOT NULL REFERENCES bookings(id) ON UPDATE CASCADE ON DELETE CASCADE, amount INTEGER NOT NULL);
        CREATE INDEX bookings_customer ON bookings(customer_id);
        """
    static let base = """
        INSERT INTO customers(email, name) VALUES ('alice@x', 'Alice'), ('bob@x', 'Bob');
        INSERT INTO bookings(ref, customer_id, slot) VALUES ('B-101', 1, 'mon 10'), ('B-102', 2, 'mon 11'), ('B-103', 1, 'tue 09');
        INSERT INTO payments(booking_id, amount) VALUES (1, 50), (2, 70);
        """
    /// The main server's bookings since its last upload (they never reached Dropbox).
    static let main = """
        PRAGMA foreign_keys = ON;
        INSERT INTO customers(email, name) VALUES ('carol@x', 'Carol');
        INSERT INTO bookings(ref, customer_id, slot) VALUES ('B-104', (SELECT id FROM customers WHERE email = 'carol@x'), 'wed 14');
        INSERT INTO payments(booking_id, amount) VALUES ((SELECT id FROM bookings WHERE ref = 'B-104'), 90);
        UPDATE bookings SET status = 'cancelled' WHERE ref = 'B-101';
        """
    /// The emergency site's writes (Railway, restored from the base).
    static let emergency = """
        PRAGMA foreign_keys = ON;
        INSERT INTO customers(email, name) VALUES ('dave@x', 'Dave');
        INSERT INTO bookings(ref, customer_id, slot) VALUES ('B-204', (SELECT id FROM customers WHERE email = 'dave@x'), 'thu 08'),
          ('B-205', (SELECT id FROM customers WHERE email = 'alice@x'), 'fri 16');
        INSERT INTO payments(booking_id, amount) VALUES ((SELECT id FROM bookings WHERE ref = 'B-204'), 30);
        UPDATE bookings SET slot = 'mon 15' WHERE ref = 'B-102';
        DELETE FROM bookings WHERE ref = 'B-103';
        UPDATE customers SET name = 'Robert' WHERE email = 'bob@x';
        """

    static let byNaturalKeys = """
        SELECT b.ref || ' ' || c.email || ' ' || c.name || ' ' || b.slot || ' ' || b.status || ' ' || coalesce((SELECT group_concat(amount) FROM payments p WHERE p.booking_id = b.id), '-')
        FROM bookings b JOIN customers c ON c.id = b.customer_id ORDER BY b.ref
        """

    static let expected = [
        "B-101 alice@x Alice mon 10 cancelled 50",
        "B-102 bob@x Robert mon 15 booked 70",
        "B-104 carol@x Carol wed 14 booked 90",
        "B-204 dave@x Dave thu 08 booked 30",
        "B-205 alice@x Alice fri 16 booked -",
    ]

    @Test(arguments: ["DELETE", "WAL"]) func theOutageEndsWithEveryWriteInOneDatabase(journal: String) throws {
        // The main server pulls Dropbox's file (the emergency's): ours = main, theirs = emergency.
        let trio = try MergeTrio("PRAGMA journal_mode=\(journal);" + Self.schema, base: Self.base, ours: Self.main, theirs: Self.emergency)
        let report = try trio.merge()
        #expect(try trio.rows(Self.byNaturalKeys) == Self.expected)
        #expect(report.conflicts.isEmpty)
        // Only the main server's rows (never in Dropbox) moved: Carol, B-104 and its payment.
        #expect(Set(report.rekeys.map(\.table)) == ["customers", "bookings", "payments"])
        #expect(try trio.rows("SELECT id FROM customers WHERE email = 'dave@x'") == ["3"], "Dropbox's keys never change")
        #expect(try trio.rows("SELECT count(*) FROM customers") == ["4"])
        #expect(try trio.checks() == ["ok"])
        #expect(try trio.rows("PRAGMA journal_mode") == [journal.lowercased()])
        // AUTOINCREMENT hands out keys above both sides' from now on.
        try DB.sql(trio.ours, "INSERT INTO customers(email, name) VALUES ('eve@x', 'Eve')")
        #expect(try trio.rows("SELECT id FROM customers WHERE email = 'eve@x'") == ["5"])
    }

    @Test func theRestartDuringADivergenceKeepsTheRunningSitesWrites() throws {
        // Railway restarts after the main server uploaded: ours = emergency, theirs = main.
        let trio = try MergeTrio(Self.schema, base: Self.base, ours: Self.emergency, theirs: Self.main)
        let report = try trio.merge()
        #expect(try trio.rows(Self.byNaturalKeys) == Self.expected)
        #expect(report.conflicts.isEmpty)
        #expect(try trio.rows("SELECT id FROM customers WHERE email = 'carol@x'") == ["3"], "the main server's uploaded keys stay")
        #expect(try trio.checks() == ["ok"])
    }

    @Test func theSameBookingChangedOnBothSitesIsNamedAndKept() throws {
        let trio = try MergeTrio(
            Self.schema, base: Self.base, ours: "UPDATE bookings SET slot = 'mon 12' WHERE ref = 'B-102';",
            theirs: "UPDATE bookings SET slot = 'mon 15' WHERE ref = 'B-102';")
        let report = try trio.merge()
        #expect(try trio.rows("SELECT slot FROM bookings WHERE ref = 'B-102'") == ["mon 15"])
        #expect(try trio.conflicts(report, "SELECT entrypoint_version || ' ' || ref || ' ' || slot FROM bookings") == ["local B-102 mon 12"])
        #expect(try trio.conflicts(report, "SELECT kind || ' ' || \"table\" FROM entrypoint_conflicts") == ["DATA bookings"])
    }
}
