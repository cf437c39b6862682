// Kept copies (distinct files, crash-safe full copies) and a database path starting with //.
import Foundation
import TestSupport
import Testing

@Suite struct KeptCopiesTests {
    func copies(_ w: World) -> [String] {
        w.leftovers().filter { $0.hasPrefix("production.db.local-") && !$0.hasSuffix("-wal") && !$0.hasSuffix("-shm") && !$0.hasSuffix("-journal") }.sorted()
    }

    func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    /// A start killed after keeping a copy keeps a second name of the same file on the next start:
    /// the two names count once and must not push out an older, distinct copy.
    @Test func hardLinksOfOneCopyCountOnce() throws {
        let w = try World()
        let dir = w.volume.path + "/database/"
        try w.publish(["r0"])
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('local-1')")
        try w.publish(["r1"])
        #expect(try run([], env: w.env(["ENTRYPOINT_KEEP_COPIES": "2"])).status == 0)
        let first = copies(w)
        #expect(first.count == 1, "\(w.leftovers())")
        sleep(1)  // copies are named by the second
        try DB.sql(w.db, "INSERT INTO items VALUES ('local-2')")
        try w.publish(["r2"])
        let killed = try run([], env: w.env(["ENTRYPOINT_KEEP_COPIES": "2", "ENTRYPOINT_TEST_CRASH_AT": "before-sidecars"]))
        #expect(killed.status == 128 + SIGKILL, "\(killed.output)")
        sleep(1)
        let r = try run([], env: w.env(["ENTRYPOINT_KEEP_COPIES": "2"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["r2"])
        let after = copies(w)
        try #require(after.count == 3, "two distinct files, one with two names: \(after)")
        #expect(after.first == first.first, "the older distinct copy survives: \(after)")
        #expect(try DB.items(dir + after[0]) == ["r0", "local-1"])
        #expect(inode(dir + after[1]) == inode(dir + after[2]), "\(after)")
        #expect(try DB.items(dir + after[2]) == ["r1", "local-2"])
        // A third distinct copy: the oldest file goes, the newer one stays with both its names.
        sleep(1)
        try DB.sql(w.db, "INSERT INTO items VALUES ('local-3')")
        try w.publish(["r3"])
        let third = try run([], env: w.env(["ENTRYPOINT_KEEP_COPIES": "2"]))
        #expect(third.status == 0, "\(third.output)")
        let last = copies(w)
        try #require(last.count == 3 && !last.contains(after[0]), "\(last)")
        #expect(third.stderr.contains("removed the old copy \(dir + after[0])"), "\(third.output)")
        #expect(try DB.items(dir + last[2]) == ["r2", "local-3"])
    }

    /// Without hard links the copy is a full copy: into a temporary, fsynced, then renamed.
    @Test func fullCopyWhenTheFileSystemRefusesHardLinks() throws {
        let w = try World()
        try w.publish(["r0"], padding: 3_000_000)
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('local')")
        try w.publish(["r1"])
        let r = try run([], env: w.env(["ENTRYPOINT_TEST_NO_HARD_LINKS": "1"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("KEPT A COPY"))
        let kept = copies(w)
        try #require(kept.count == 1, "\(w.leftovers())")
        #expect(w.leftovers().allSatisfy { !$0.contains("entrypoint-download") }, "\(w.leftovers())")
        let copy = w.volume.path + "/database/" + kept[0]
        #expect(try DB.items(copy) == ["r0", "local"])
        #expect(DB.integrity(copy) == "ok")
    }

    /// A full copy killed midway leaves only a temporary, never a partial `.local-` copy, and the
    /// next start removes the temporary and keeps a complete copy.
    @Test func aKilledFullCopyLeavesNoPartialCopy() throws {
        let w = try World()
        try w.publish(["r0"], padding: 3_000_000)
        #expect(try run([], env: w.env()).status == 0)
        try DB.sql(w.db, "INSERT INTO items VALUES ('local')")
        let local = try #require(bytes(w.db))
        try w.publish(["r1"])
        let killed = try run([], env: w.env(["ENTRYPOINT_TEST_NO_HARD_LINKS": "1", "ENTRYPOINT_TEST_CRASH_AT": "copying"]))
        #expect(killed.status == 128 + SIGKILL, "\(killed.output)")
        #expect(copies(w).isEmpty, "a partial copy looks like a kept copy: \(w.leftovers())")
        #expect(w.leftovers().contains { $0.hasPrefix("production.db.entrypoint-download-copy-") }, "\(w.leftovers())")
        #expect(bytes(w.db) == local)
        let r = try run([], env: w.env(["ENTRYPOINT_TEST_NO_HARD_LINKS": "1"]))
        #expect(r.status == 0, "\(r.output)")
        #expect(r.stderr.contains("entrypoint-download-copy-"), "the stale temporary is removed and logged: \(r.output)")
        let kept = copies(w)
        try #require(kept.count == 1 && w.leftovers().count == 1, "\(w.leftovers())")
        #expect(bytes(w.volume.path + "/database/" + kept[0]) == local)
        #expect(try DB.items(w.db) == ["r1"])
    }

    /// `file://x/...` names the host x: a database path starting with // must still verify.
    @Test func aDatabasePathStartingWithTwoSlashesRestores() throws {
        let w = try World()
        try w.publish(["r0"])
        #expect(w.db.hasPrefix("/"))
        let r = try run([], env: w.env(["RAILWAY_DB_PATH": "/" + w.db]))
        #expect(r.status == 0, "\(r.output)")
        #expect(try DB.items(w.db) == ["r0"])
    }
}
