// Thin, errno-preserving wrappers around the file system calls the restore needs.
// Every descriptor is opened O_CLOEXEC, so nothing leaks into the exec'd program.
import CShims
import Glibc

/// A failed system call: the errno, read on the line after the call.
public struct SystemError: Error, Sendable {
    public let errno: Int32
    public let call: String
    public var message: String { errnoText(errno) }

    /// `localError(action, path, errno)`, except that a call cut short by a stop signal (EINTR
    /// with the signal flag set, e.g. the hash of a Ctrl-C'd `--backup`) is that signal's error:
    /// exit 128 + N, not 74 "Interrupted system call".
    func localError(_ action: String, _ path: String) -> EntrypointError {
        let sig = Signals.pending
        if errno == EINTR && sig != 0 { return EntrypointError(signal: sig) }
        return EntrypointCore.localError(action, path, errno, call: call)
    }
}

public enum FileIO {
    /// The one conversion of a failed system call into the operator's error: runs `body`, and a
    /// `SystemError` becomes `cannot <action> <path>: <strerror>` (exit 74), or the signal's error
    /// when a stop signal cut the call short (SystemError.localError).
    static func operation<T: ~Copyable>(
        _ action: String, _ path: String, _ body: () throws(SystemError) -> T
    ) throws(EntrypointError) -> T {
        do { return try body() } catch { throw error.localError(action, path) }
    }

    /// Calls `body` until it stops failing with EINTR; throws the errno otherwise.
    @discardableResult
    static func retrying<T: FixedWidthInteger>(_ call: String, _ body: () -> T) throws(SystemError) -> T {
        while true {
            let result = body()
            if result != -1 { return result }
            let err = errno
            if err == EINTR { continue }
            throw SystemError(errno: err, call: call)
        }
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) throws(SystemError) -> Int32 {
        try retrying("open") { Glibc.open(path, flags | O_CLOEXEC, mode) }
    }

    static func close(_ fd: Int32) {
        // EINTR on close must not be retried (the fd is gone either way); a write error shows at the fsync before it.
        bestEffort("the descriptor is released whatever close returns", Glibc.close(fd))
    }

    /// Reads a whole small file (secrets, records).
    static func readSmallFile(_ path: String, limit: Int) throws(SystemError) -> [UInt8] {
        let file = try FileDescriptor.open(path, O_RDONLY)
        let fd = file.raw
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while out.count <= limit {
            let n = try retrying("read") { buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) } }
            if n == 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        if out.count > limit { throw SystemError(errno: EFBIG, call: "read") }
        return out
    }

    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < buffer.count {
            let n = try retrying("write") { Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset) }
            offset += n
        }
    }

    static func pwriteAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, at position: Int64) throws(SystemError) {
        var offset = 0
        while offset < buffer.count {
            let n = try retrying("pwrite") {
                Glibc.pwrite(fd, buffer.baseAddress! + offset, buffer.count - offset, off_t(position) + off_t(offset))
            }
            offset += n
        }
    }

    static func truncate(_ fd: Int32, _ size: Int64) throws(SystemError) {
        try retrying("ftruncate") { Glibc.ftruncate(fd, off_t(size)) }
    }

    /// fstat(2)'s size of an open file.
    static func size(_ fd: Int32) throws(SystemError) -> Int64 {
        var st = Glibc.stat()
        try retrying("fstat") { fstat(fd, &st) }
        return Int64(st.st_size)
    }

    static func fsync(_ fd: Int32) throws(SystemError) {
        try retrying("fsync") { Glibc.fsync(fd) }
    }

    /// fsync of a directory, so a rename or create in it is durable.
    static func fsyncDirectory(_ path: String) throws(SystemError) {
        let directory = try FileDescriptor.open(path, O_RDONLY | O_DIRECTORY)
        try fsync(directory.raw)
    }

    static func rename(_ from: String, _ to: String) throws(SystemError) {
        try retrying("rename") { Glibc.rename(from, to) }
    }

    static func link(_ from: String, _ to: String) throws(SystemError) {
        try retrying("link") { Glibc.link(from, to) }
    }

    /// Removes a temporary on a path where its removal cannot be reported and must not hide the
    /// error being reported (an operation that already failed, the cleanup of a snapshot). A
    /// leftover is harmless: the next start removes `*.entrypoint-*` temporaries (Restorer).
    static func removeBestEffort(_ path: String) {
        if Glibc.unlink(path) != 0 { return }  // nothing to do on failure: see above
    }

    /// Removes a file; a missing file is not an error.
    static func unlinkIfPresent(_ path: String) throws(SystemError) {
        if Glibc.unlink(path) == -1 {
            let err = errno
            if err != ENOENT { throw SystemError(errno: err, call: "unlink") }
        }
    }

    /// stat(2), or nil when the path does not exist.
    static func stat(_ path: String) throws(SystemError) -> stat? {
        var st = Glibc.stat()
        if fstatat(AT_FDCWD, path, &st, 0) == -1 {
            let err = errno
            if err == ENOENT { return nil }
            throw SystemError(errno: err, call: "stat")
        }
        return st
    }

    /// stat(2) where "missing" and "unreadable" both mean nil (for best-effort questions).
    static func statIfPresent(_ path: String) -> stat? {
        (try? stat(path)) ?? nil
    }

    static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    /// `mkdir -p`: creates every missing directory of `path` with mode 0755.
    static func makeDirectories(_ path: String) throws(SystemError) {
        if path.isEmpty || path == "/" { return }
        if let st = try stat(path) {
            if (st.st_mode & S_IFMT) == S_IFDIR { return }
            throw SystemError(errno: ENOTDIR, call: "mkdir")
        }
        try makeDirectories(dirname(path))
        if Glibc.mkdir(path, 0o755) == -1 {
            let err = errno
            if err != EEXIST { throw SystemError(errno: err, call: "mkdir") }
        }
    }

    /// The directory part of a path ("." for a bare name).
    static func dirname(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    static func basename(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Creates a new file exclusively (O_EXCL) next to `path` named `<path><infix><random>`.
    /// The file is removed again when the result goes out of scope, unless it is kept.
    static func createTemporary(near path: String, infix: String, mode: mode_t) throws(SystemError) -> TemporaryFile {
        for _ in 0..<100 {
            let candidate = path + infix + randomSuffix()
            let fd = Glibc.open(candidate, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode)
            if fd >= 0 {
                let temp = TemporaryFile(descriptor: FileDescriptor(adopting: fd), removal: RemovalOnExit(candidate))
                // The umask may have narrowed the mode; the database's mode is what we want.
                try retrying("fchmod") { fchmod(fd, mode) }
                return temp
            }
            let err = errno
            if err == EEXIST || err == EINTR { continue }
            throw SystemError(errno: err, call: "open")
        }
        throw SystemError(errno: EEXIST, call: "open")
    }

    static func randomSuffix() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var rng = SystemRandomNumberGenerator()
        return String((0..<8).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] })
    }

    /// Names in a directory (no "." or "..").
    static func listDirectory(_ path: String) -> [String] {
        guard let dir = opendir(path) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Copies a file crash-safely (used when a hard link is not possible): the bytes go into a new
    /// temporary `<near><infix><random>` (O_EXCL), which is fsynced and only then renamed to `to`.
    /// A kill midway leaves the temporary, never a partial file named `to`. `afterChunk` runs after
    /// each chunk is written (a test hook). The caller fsyncs the directory.
    static func copyFile(
        _ from: String, _ to: String, near: String, infix: String, mode: mode_t, afterChunk: () -> Void = {}
    ) throws(SystemError) {
        let source = try FileDescriptor.open(from, O_RDONLY)
        let src = source.raw
        var temp = try createTemporary(near: near, infix: infix, mode: mode)
        let dst = temp.descriptor.raw
        let size = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 4096)
        defer { buffer.deallocate() }
        while true {
            let n = try retrying("read") { Glibc.read(src, buffer.baseAddress, size) }
            if n == 0 { break }
            try writeAll(dst, UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            afterChunk()
        }
        try fsync(dst)
        try rename(temp.path, to)
        temp.removal.keep()
    }

    /// Writes a small file atomically: temp file beside it, fsync, rename, fsync directory.
    static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600) throws(SystemError) {
        var temp = try createTemporary(near: path, infix: ".tmp-", mode: mode)
        let fd = temp.descriptor.raw
        let failure: SystemError? = bytes.withUnsafeBytes { b in
            do throws(SystemError) { try writeAll(fd, b) } catch { return error }
            return nil
        }
        if let failure { throw failure }
        try fsync(fd)
        try rename(temp.path, path)
        temp.removal.keep()
        try fsyncDirectory(dirname(path))
    }
}
