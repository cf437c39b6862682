// The source database of a snapshot, read through the file handle of the SQLite connection that
// holds the read lock (docs/design.md, "The backup", step 3).
import CSQLite

/// The source database read through its SQLite connection's own file handle (SQLite's `xRead` and
/// `xFileSize` on the `sqlite3_file` of `SQLITE_FCNTL_FILE_POINTER`): the handle that holds the
/// read lock. A descriptor opened by path could be another file (the database replaced by a rename
/// after the connection opened it: its writers ignore the lock on the old file, and the copy read
/// their uncommitted pages), and closing it would drop every POSIX lock of this process on the
/// file, SQLite's included (a WAL connection keeps its shared lock between transactions).
struct SourceFile {
    let file: UnsafeMutablePointer<sqlite3_file>
    let methods: sqlite3_io_methods
    let path: String

    init(_ connection: SQLite.Connection, _ path: String) throws(EntrypointError) {
        self.path = path
        var pointer: UnsafeMutablePointer<sqlite3_file>?
        let rc = sqlite3_file_control(connection.db, "main", SQLITE_FCNTL_FILE_POINTER, &pointer)
        guard rc == SQLITE_OK, let pointer, let methods = pointer.pointee.pMethods?.pointee,
            methods.xRead != nil, methods.xFileSize != nil
        else {
            throw EntrypointError(.localIO, "cannot read \(path) through its SQLite connection: \(String(cString: sqlite3_errstr(rc)))")
        }
        file = pointer
        self.methods = methods
    }

    func size() throws(EntrypointError) -> Int64 {
        var size: sqlite3_int64 = 0
        let rc = methods.xFileSize(file, &size)
        guard rc == SQLITE_OK else { throw EntrypointError(.localIO, "cannot stat \(path): \(String(cString: sqlite3_errstr(rc)))") }
        return Int64(size)
    }

    /// Reads up to `count` bytes at `offset` (fewer only at the end of the file); returns how many.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, _ count: Int) throws(EntrypointError) -> Int {
        guard count > 0 else { return 0 }
        let rc = methods.xRead(file, buffer.baseAddress, Int32(count), sqlite3_int64(offset))
        if rc == SQLITE_OK { return count }
        // A short read (the rest zero-filled): the file ends before offset + count.
        guard rc == SQLITE_IOERR | (2 << 8) else {  // SQLITE_IOERR_SHORT_READ (a macro Swift does not import)
            throw EntrypointError(.localIO, "cannot read \(path) at byte \(offset): \(String(cString: sqlite3_errstr(rc)))")
        }
        return Int(max(0, min(Int64(count), try size() - offset)))
    }
}
