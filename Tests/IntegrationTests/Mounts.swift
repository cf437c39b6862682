// Small real file systems for the tests that need one (root only): an ext4 image with 128-byte
// inodes (1-second timestamps) on a loop device, and a tmpfs of a given size.
import Foundation
import Testing
import TestSupport

/// Runs `command` with /bin/sh; its exit status.
@discardableResult
func shell(_ command: String) throws -> Int32 {
    try Spawned("/bin/sh", ["-c", command], env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], capture: false).finish(timeout: 60).status
}

/// A mounted file system at `path`, unmounted (and its image removed) when released.
final class Mount {
    let path: String
    private let dir = TempDir()

    /// Root and the tools (mount, loop devices, mkfs.ext4) are what these tests need.
    static var available: Bool {
        getuid() == 0 && FileManager.default.fileExists(atPath: "/dev/loop-control")
    }

    /// `ext4` (an image with `-I 128`: 1-second timestamps) or `tmpfs`, of `megabytes`.
    init(_ kind: String, megabytes: Int) throws {
        path = dir.file("mnt")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let image = dir.file("image")
        let command = kind == "ext4"
            ? "truncate -s \(megabytes)M '\(image)' && mkfs.ext4 -q -F -I 128 '\(image)' 2>/dev/null && mount -o loop '\(image)' '\(path)'"
            : "mount -t tmpfs -o size=\(megabytes)m tmpfs '\(path)'"
        let status = try shell(command)
        try #require(status == 0, "cannot mount a \(kind) file system (root and loop devices needed): \(command)")
    }

    deinit { _ = try? shell("umount '\(path)' || umount -l '\(path)'") }
}
