// The owning descriptor closes on every path; a temporary is removed unless it was kept.
import Foundation
import Glibc
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct FileDescriptorTests {
    /// The file `fd` refers to now, by its path (/proc/self/fd, " (deleted)" dropped), or nil when it
    /// is closed. A test running in parallel may reuse the number, and the file system a removed
    /// file's inode number (so an inode can be "this file" again), but not the path: every test's
    /// files are in a TempDir of its own. So "closed" is "no longer this path".
    func file(_ fd: Int32) -> String? {
        guard let link = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)") else { return nil }
        return link.hasSuffix(" (deleted)") ? String(link.dropLast(" (deleted)".count)) : link
    }

    @Test func closesWhenItsScopeEndsAndOnClose() throws {
        let dir = TempDir()
        FileManager.default.createFile(atPath: dir.file("a"), contents: Data([1]))
        var raw: Int32 = -1
        var was: String?
        do {
            let descriptor = try FileDescriptor.open(dir.file("a"), O_RDONLY)
            raw = descriptor.raw
            was = file(raw)
            #expect(was != nil)
        }
        #expect(file(raw) != was)
        let descriptor = try FileDescriptor.open(dir.file("a"), O_RDONLY)
        let again = descriptor.raw
        let was2 = file(again)
        descriptor.close()
        #expect(was2 != nil && file(again) != was2)
    }

    @Test func aThrownErrorClosesAndRemovesTheTemporary() throws {
        let dir = TempDir()
        var raw: Int32 = -1
        var was: String?
        func failMidway() throws(EntrypointError) {
            let temp = try FileIO.operation("create a temporary file in", dir.path) { () throws(SystemError) in
                try FileIO.createTemporary(near: dir.file("db"), infix: ".tmp-", mode: 0o600)
            }
            raw = temp.descriptor.raw
            was = file(raw)
            throw EntrypointError(.localIO, "midway")
        }
        #expect(throws: EntrypointError.self) { try failMidway() }
        #expect(was != nil && file(raw) != was)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)

        // Kept (renamed into place): stays.
        var temp = try FileIO.createTemporary(near: dir.file("db"), infix: ".tmp-", mode: 0o600)
        try FileIO.rename(temp.path, dir.file("db"))
        temp.removal.keep()
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["db"])
    }

    @Test func aFailedSystemCallIsTheOperatorsErrorOnce() {
        #expect {
            try FileIO.operation("open", "/nonexistent/x") { () throws(SystemError) in try FileDescriptor.open("/nonexistent/x", O_RDONLY) }
        } throws: { error in
            let e = error as? EntrypointError
            return e?.message == "cannot open /nonexistent/x: No such file or directory" && e?.code == .localIO
                && e?.cause == .system(call: "open", errno: ENOENT)
        }
    }
}
