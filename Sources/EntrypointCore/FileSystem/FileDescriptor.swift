// An owning file descriptor: closed exactly once, on every path, when its owner's scope ends.
import Glibc

/// An open file descriptor that closes itself when it goes out of scope (or when its owner, e.g.
/// `RestoreLock`, is destroyed). Noncopyable: exactly one owner, so exactly one close. A local
/// `FileDescriptor` lives to the end of its scope, like a `defer { close }` written right after
/// the open. Code that must close at a precise moment (before a rename, after an fsync) calls
/// `close()`, which consumes it.
///
/// Not used where SQLite's POSIX locks depend on when a descriptor of the database is closed
/// (Backup/Snapshot.swift keeps its explicit, commented order).
struct FileDescriptor: ~Copyable {
    let raw: Int32

    /// Takes ownership of `raw` (an open descriptor).
    init(adopting raw: Int32) { self.raw = raw }

    /// open(2) with O_CLOEXEC, retried on EINTR.
    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) throws(SystemError) -> FileDescriptor {
        FileDescriptor(adopting: try FileIO.open(path, flags, mode))
    }

    /// Closes now.
    consuming func close() {
        let fd = raw
        discard self
        FileIO.close(fd)
    }

    deinit { FileIO.close(raw) }
}

/// A new temporary file beside its destination (FileIO.createTemporary): the open descriptor and
/// the path, and the path's removal unless `keep()` (it was renamed into place).
struct TemporaryFile: ~Copyable {
    var descriptor: FileDescriptor
    var removal: RemovalOnExit
    var path: String { removal.path }
}

/// Removes `path` (best effort) when it goes out of scope, unless `keep()` was called: the
/// temporary of an operation that failed midway never stays behind under its own name.
struct RemovalOnExit: ~Copyable {
    let path: String
    private var kept = false

    init(_ path: String) { self.path = path }

    /// The file was renamed into place (or is wanted): do not remove it.
    mutating func keep() { kept = true }

    deinit { if !kept { FileIO.removeBestEffort(path) } }
}
