// A seeded, reproducible sequence of writes, backups, restarts and pulls on both sites
// (the main server, Railway) against the fake Dropbox. Each site writes its own bookings (new ones
// with ids both sites allocate from the same state, reschedules, deletions); at the end, after one
// last round of restarts and backups, both databases hold exactly every surviving write of either
// site (checked by booking reference), pass both PRAGMA checks, nothing was set aside, and Railway's
// automatic backups (which merge) made at most one side copy in Dropbox.
// MERGE_SEED=<n> replays a run; the seed is printed.
import Foundation
import TestSupport
import Testing

@Suite struct MergeRandomizedTests {
    /// SplitMix64: the same seed, the same run, on every platform.
    struct Random {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    }

    struct Site {
        let name: String
        let db: String
        let env: [String: String]
        let backup: [String]
        var counter = 0
    }

    @Test func interleavedWritesBackupsRestartsAndPullsEndInOneDatabase() throws {
        let seed = ProcessInfo.processInfo.environment["MERGE_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64(UInt32.max))
        print("MergeRandomizedTests seed: \(seed) (MERGE_SEED=\(seed) replays it)")
        var random = Random(state: seed)
        let w = try World()
        let mainDir = TempDir()
        try DB.sql(mainDir.file("main.db"), MergeAtStartTests.schema)
        var sites = [
            Site(name: "main", db: mainDir.file("main.db"), env: w.env(["RAILWAY_DB_PATH": mainDir.file("main.db")]), backup: ["--backup"]),
            Site(name: "railway", db: w.db, env: w.env(), backup: ["--backup", "--auto"]),
        ]
        // The main server uploads first; Railway's first start restores that.
        var r = try run(sites[0].backup, env: sites[0].env)
        try #require(r.status == 0, "\(r.output)")
        r = try run([], env: sites[1].env)
        try #require(r.status == 0, "\(r.output)")
        // The model: booking reference → slot, for every booking that should survive.
        var model: [String: String] = ["B-101": "mon 10", "B-102": "mon 11", "B-103": "tue 09"]
        var history: [String] = []
        for step in 0..<40 {
            let s = random.below(2)
            let site = sites[s]
            let own = try DB.sql(site.db, "SELECT ref FROM bookings WHERE ref LIKE '\(site.name)-%' ORDER BY ref")
            let action = random.below(10)
            var what = ""
            switch action {
            case 0..<4:
                sites[s].counter += 1
                let ref = "\(site.name)-\(sites[s].counter)"
                let slot = "slot \(random.below(50))"
                let email = random.below(2) == 0 ? "alice@x" : "\(ref)@x"
                try DB.sql(site.db, "PRAGMA foreign_keys = ON;" + MergeAtStartTests.book(ref, email, ref, slot, pay: random.below(2) == 0 ? 10 + step : nil))
                model[ref] = slot
                what = "book \(ref)"
            case 4..<6 where !own.isEmpty:
                let ref = own[random.below(own.count)]
                let slot = "moved \(random.below(50))"
                try DB.sql(site.db, "UPDATE bookings SET slot = '\(slot)' WHERE ref = '\(ref)'")
                model[ref] = slot
                what = "reschedule \(ref)"
            case 6 where !own.isEmpty:
                let ref = own[random.below(own.count)]
                try DB.sql(
                    site.db,
                    "PRAGMA foreign_keys = ON; DELETE FROM payments WHERE booking_id = (SELECT id FROM bookings WHERE ref = '\(ref)'); DELETE FROM bookings WHERE ref = '\(ref)'"
                )
                model[ref] = nil
                what = "delete \(ref)"
            case 7, 8:
                r = try run(site.backup, env: site.env)
                #expect(r.status == 0 || (s == 0 && r.status == 76), "seed \(seed) step \(step): \(r.output)")
                what = "backup (\(r.status))"
            default:
                r = try run([], env: site.env)
                #expect(r.status == 0, "seed \(seed) step \(step): \(r.output)")
                #expect(!r.stderr.contains("merge: CONFLICT") && !r.stderr.contains("refused"), "seed \(seed) step \(step): \(r.output)")
                what = "restart" + (r.stderr.contains("merging") ? " (merged)" : "")
            }
            history.append("\(step) \(site.name): \(what)")
        }
        // The last round: each site pulls (merges) and uploads in turn; then both hold everything.
        for (s, args) in [(0, [String]()), (0, sites[0].backup), (1, []), (1, sites[1].backup), (0, [])] {
            r = try run(args, env: sites[s].env)
            #expect(r.status == 0, "seed \(seed) final \(sites[s].name) \(args): \(r.output)\n\(history.joined(separator: "\n"))")
        }
        print("seed \(seed): \(history.filter { $0.contains("merged") }.count) merges at start in \(history.count) steps")
        let uploaded =
            FileManager.default.contents(atPath: w.fake.state.file("uploaded.json"))
            .flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] } ?? [:]
        let sideCopies = uploaded.keys.filter { $0.contains(".failback-") }
        #expect(sideCopies.count <= 1, "seed \(seed): side copies \(sideCopies.sorted())\n\(history.joined(separator: "\n"))")
        let expected = model.map { "\($0.key) \($0.value)" }.sorted()
        for site in sites {
            let rows = try DB.sql(site.db, "SELECT ref || ' ' || slot FROM bookings ORDER BY ref")
            #expect(rows == expected, "seed \(seed), \(site.name):\n\(history.joined(separator: "\n"))")
            #expect(try DB.sql(site.db, "PRAGMA integrity_check") == ["ok"])
            #expect(try DB.sql(site.db, "PRAGMA foreign_key_check").isEmpty)
            let dir = (site.db as NSString).deletingLastPathComponent
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir).allSatisfy { !$0.contains(".conflicts-") }, "seed \(seed)")
        }
    }
}
