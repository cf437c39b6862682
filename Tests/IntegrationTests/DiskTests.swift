// Full disk and read-only volume, on a real small tmpfs (needs root, as CI has).
import Foundation
import TestSupport
import Testing

/// A tmpfs of `size` mounted on a fresh directory; unmounted at deinit.
final class SmallVolume {
    let path = TempDir()
    init(size: String) throws {
        let r = try Spawned("/bin/mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", path.path], env: [:]).finish(timeout: 10)
        guard r.status == 0 else { throw CocoaError(.fileWriteNoPermission) }
    }
    func remount(readOnly: Bool) throws {
        _ = try Spawned("/bin/mount", ["-o", "remount,\(readOnly ? "ro" : "rw")", path.path], env: [:]).finish(timeout: 10)
    }
    deinit { _ = try? Spawned("/bin/umount", ["-l", path.path], env: [:]).finish(timeout: 10) }
}

@Suite(.serialized, .enabled(if: getuid() == 0, "mounting a tmpfs needs root")) struct DiskTests {
    @Test func fullDiskKeepsTheOldDatabase() throws {
        let w = try World()
        let volume = try SmallVolume(size: "1m")
        let db = volume.path.path + "/production.db"
        let small = try w.publish(["small"])
        #expect(try run([], env: w.env(["RAILWAY_DB_PATH": db])).status == 0)
        try w.publish(["big"], padding: 2_000_000)
        let r = try run([], env: w.env(["RAILWAY_DB_PATH": db, "ENTRYPOINT_ON_UNAVAILABLE": "fail"]))
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("the volume is full"))
        #expect(r.stderr.split(separator: "\n").filter { $0.contains("error:") }.count == 1)
        #expect(bytes(db) == bytes(small))
        let names = try FileManager.default.contentsOfDirectory(atPath: volume.path.path)
        #expect(!names.contains { $0.contains("entrypoint-download") }, "\(names)")
    }

    @Test func readOnlyVolumeIsOneClearLine() throws {
        let w = try World()
        let volume = try SmallVolume(size: "4m")
        let db = volume.path.path + "/production.db"
        let v1 = try w.publish(["v1"])
        #expect(try run([], env: w.env(["RAILWAY_DB_PATH": db])).status == 0)
        try w.publish(["v2"])
        try volume.remount(readOnly: true)
        let r = try run(["sh", "-c", "echo started"], env: w.env(["RAILWAY_DB_PATH": db]))
        #expect(r.status == 74, "\(r.output)")
        #expect(r.stderr.contains("read-only"))
        #expect(!r.stdout.contains("started"))
        #expect(bytes(db) == bytes(v1))
        try volume.remount(readOnly: false)
    }
}
