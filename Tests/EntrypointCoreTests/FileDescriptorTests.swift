// The owning descriptor closes on every path; a temporary is removed unless it was kept.
import Foundation
import Glibc
import Testing
import TestSupport

@testable import EntrypointCore

@Suite struct FileDescriptorTests {
    /// The inode `fd` refers to now, or nil when it is closed. Another test may reuse the number,
    /// so "closed" is "no longer this file".
    func inode(_ fd: Int32) -> UInt64? {
        var st = stat()
        return fstat(fd, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    @Test func closesWhenItsScopeEndsAndOnClose() throws {
        let dir = TempDir()
        FileManager.default.createFile(atPath: dir.file("a"), contents: Data([1]))
        var raw: Int32 = -1
        var ino: UInt64?
        do {
            let file = try FileDescriptor.open(dir.file("a"), O_RDONLY)
            raw = file.raw
            ino = inode(raw)
            #expect(ino != nil)
        }
        #expect(inode(raw) != ino)
        let file = try FileDescriptor.open(dir.file("a"), O_RDONLY)
        let again = file.raw
        let ino2 = inode(again)
        file.close()
        #expect(ino2 != nil && inode(again) != ino2)
    }

    @Test func aThrownErrorClosesAndRemovesTheTemporary() throws {
        let dir = TempDir()
        var raw: Int32 = -1
        var ino: UInt64?
        func failMidway() throws(EntrypointError) {
            let temp = try FileIO.operation("create a temporary file in", dir.path) { () throws(SystemError) in
                try FileIO.createTemporary(near: dir.file("db"), infix: ".tmp-", mode: 0o600)
            }
            raw = temp.descriptor.raw
            ino = inode(raw)
            throw EntrypointError(.localIO, "midway")
        }
        #expect(throws: EntrypointError.self) { try failMidway() }
        #expect(ino != nil && inode(raw) != ino)
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
