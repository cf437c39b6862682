// A merge at start that fails for a reason other than a refusal (here: the app has a table named
// like the conflicts database's own, so the conflicts database cannot be written) must not stop
// every start: it falls back to today's rule, as a refusal does (Dropbox's file installed, the local
// database kept as a copy, nothing lost). It used to exit 74 at each start: a restart loop.
import Foundation
import TestSupport
import Testing

@Suite struct MergeAtStartFallbackTests {
    @Test func aMergeThatFailsFallsBackInsteadOfStoppingTheStart() throws {
        let w = try World()
        let main = TempDir()
        let mainDB = main.file("main.db")
        let env = w.env(["RAILWAY_DB_PATH": mainDB])
        try DB.sql(mainDB, "CREATE TABLE entrypoint_conflicts(id INTEGER PRIMARY KEY, note TEXT); INSERT INTO entrypoint_conflicts VALUES (1, 'base');")
        #expect(try run(["--backup"], env: env).status == 0)
        try DB.sql(mainDB, "UPDATE entrypoint_conflicts SET note = 'main' WHERE id = 1;")
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "UPDATE entrypoint_conflicts SET note = 'railway' WHERE id = 1;")
        #expect(try run(["--backup"], env: w.env()).status == 0)
        let r = try run([], env: env)
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("warning: the merge failed: ") && r.stderr.contains("keeping the local database as a copy"), "\(r.output)")
        #expect(try DB.sql(mainDB, "SELECT note FROM entrypoint_conflicts") == ["railway"])
        let kept = try #require(
            FileManager.default.contentsOfDirectory(atPath: main.path).first {
                $0.hasPrefix("main.db.local-") && !$0.contains("-wal") && !$0.contains("-journal")
            })
        #expect(try DB.sql(main.file(kept), "SELECT note FROM entrypoint_conflicts") == ["main"])
    }
}
