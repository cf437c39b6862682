// A snapshot that runs out of room on its volume says so: it names the snapshot it could not write
// and the full volume, never the source database, and never SQLite's "not an error" (the message of
// the source connection, which had none).
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct SnapshotFullVolumeTests {
    static let canMount: Bool = {
        guard getuid() == 0 else { return false }
        return (try? run("d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs \"$d\" && umount \"$d\"; rc=$?; rmdir \"$d\"; exit $rc")) == 0
    }()

    static func run(_ command: String) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", command]
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }

    @Test(.enabled(if: canMount, "skipped: needs root with mount rights for a small tmpfs"))
    func aFullSnapshotVolumeNamesTheSnapshotAndTheVolume() throws {
        let dir = TempDir()
        let db = dir.file("live.db")
        let mnt = dir.file("small")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        #expect(try Self.run("mount -t tmpfs -o size=1m tmpfs '\(mnt)'") == 0)
        defer { _ = try? Self.run("umount '\(mnt)' || umount -l '\(mnt)'") }
        // WAL: the snapshot goes through SQLite's backup API, whose step fails on the destination.
        try DB.sql(db, "PRAGMA journal_mode=WAL; CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(3000000));")
        var message = ""
        do throws(EntrypointError) { try SQLite.snapshot(db, to: mnt + "/copy.db") } catch { message = error.message }
        #expect(message.contains("cannot write the snapshot \(mnt)/copy.db"), "\(message)")
        #expect(message.contains("(the volume is full)"), "\(message)")
        #expect(!message.contains("not an error"), "\(message)")
        #expect(DB.integrity(db) == "ok")
    }
}
