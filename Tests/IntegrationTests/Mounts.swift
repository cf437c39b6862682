// Small real file systems for the tests that need one (root only): an ext4 image with 128-byte
// inodes (1-second timestamps) on a loop device, and a tmpfs of a given size.
import Foundation
import TestSupport
import Testing

/// Runs `command` with /bin/sh; its exit status.
@discardableResult
func shell(_ command: String) throws -> Int32 {
    try Spawned("/bin/sh", ["-c", command], env: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], capture: false).finish(timeout: 60).status
}

/// A mounted file system at `path`, unmounted (and its image removed) when released.
final class Mount {
    let path: String
    private let dir = TempDir()

    /// Whether a tmpfs can be mounted here: root with CAP_SYS_ADMIN (not in an unprivileged container).
    static let canMountTmpfs: Bool = {
        getuid() == 0 && (try? shell("d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs \"$d\" && umount \"$d\"; rc=$?; rmdir \"$d\"; exit $rc")) == 0
    }()

    /// Whether an ext4 image can be mounted on a loop device: the above, a free loop device, mkfs.ext4.
    static let canMountLoop: Bool = {
        canMountTmpfs && FileManager.default.fileExists(atPath: "/dev/loop-control")
            && (try? shell("losetup -f >/dev/null && command -v mkfs.ext4 >/dev/null")) == 0
    }()

    /// `ext4` (an image with `-I 128`: 1-second timestamps) or `tmpfs`, of `megabytes`.
    init(_ kind: String, megabytes: Int) throws {
        path = dir.file("mnt")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let image = dir.file("image")
        let command =
            kind == "ext4"
            ? "truncate -s \(megabytes)M '\(image)' && mkfs.ext4 -q -F -I 128 '\(image)' 2>/dev/null && mount -o loop '\(image)' '\(path)'"
            : "mount -t tmpfs -o size=\(megabytes)m tmpfs '\(path)'"
        let status = try shell(command)
        try #require(status == 0, "cannot mount a \(kind) file system (root and loop devices needed): \(command)")
    }

    deinit { _ = try? shell("umount '\(path)' || umount -l '\(path)'") }
}
