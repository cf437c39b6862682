// The shared SQLite fixture itself (Tests/TestSupport): what it returns, and that a statement failing
// while it runs is an error rather than a silently different fixture.
import Foundation
import TestSupport
import Testing

@Suite struct FixtureTests {
    @Test func returnsTheFirstColumnOfEveryRow() throws {
        let dir = TempDir()
        let db = dir.file("rows.db")
        try DB.make(db, rows: ["a", "b", "c"])
        #expect(try DB.items(db) == ["a", "b", "c"])
        #expect(try DB.sql(db, "SELECT count(*) FROM items; -- a trailing comment\n") == ["3"])
        #expect(DB.integrity(db) == "ok")
    }

    @Test func aStatementFailingWhileItRunsThrows() throws {
        let dir = TempDir()
        let db = dir.file("unique.db")
        #expect(throws: (any Error).self) {
            try DB.sql(db, "CREATE TABLE t(x UNIQUE); INSERT INTO t VALUES (1); INSERT INTO t VALUES (1);")
        }
        #expect(try DB.sql(db, "SELECT count(*) FROM t") == ["1"], "the statements before the failing one ran")
        #expect(throws: (any Error).self) { try DB.sql(db, "SELECT nosuchcolumn FROM t") }
    }

    @Test func aFileThatIsNotADatabaseIsUnreadable() throws {
        let dir = TempDir()
        let path = dir.file("garbage.db")
        try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: path))
        #expect(throws: (any Error).self) { try DB.items(path) }
        #expect(DB.integrity(path) == "unreadable")
    }
}
