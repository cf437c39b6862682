// The destination of SQLite's online backup as a stream, not a file: a small SQLite VFS whose one
// file hands every page it is given, in file order, to a sink (an upload, a hash), keeps only page 1
// and never touches the volume (docs/design.md, "The streamed snapshot").
//
// Measured on SQLite 3.40 (Debian 12) with a destination in journal_mode=OFF: the backup writes
// pages 2..N in ascending order as its page cache spills, and page 1 last (the destination's
// write transaction holds it until the commit, which sets its change counter, schema cookie and
// version fields). Anything else (a page written twice, a write below what was already streamed,
// a read of a streamed page) fails the write or read, and the snapshot with it: never a silently
// wrong stream.
import CSQLite
import Glibc

/// One streamed destination: what the VFS file below reports to.
final class PageStream {
    let pageSize: Int
    /// Receives the bytes from page 2 on, in file order; false stops the backup (the write fails).
    private let sink: (UnsafeRawBufferPointer) -> Bool
    /// Page 1 as the backup wrote it last: the database header of the streamed copy.
    private(set) var pageOne: [UInt8]?
    /// The next byte the sink expects (page 2 comes first).
    private(set) var next: Int64
    /// Why the stream failed, when it did: the snapshot's error line.
    private(set) var failure: String?

    init(pageSize: Int, sink: @escaping (UnsafeRawBufferPointer) -> Bool) {
        self.pageSize = pageSize
        self.sink = sink
        next = Int64(pageSize)
    }

    /// The file's size as SQLite sees it.
    var size: Int64 { next > Int64(pageSize) || pageOne != nil ? next : 0 }

    func fail(_ why: String) -> Int32 {
        if failure == nil { failure = why }
        return SQLITE_IOERR
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) -> Int32 {
        if offset == 0 {
            guard bytes.count == pageSize else { return fail("the backup wrote \(bytes.count) bytes of page 1 (page size \(pageSize))") }
            pageOne = Array(bytes)
            return SQLITE_OK
        }
        guard offset >= next else {
            return fail("the backup wrote byte \(offset) after byte \(next) was streamed (pages out of order)")
        }
        // A page SQLite never writes (the lock-byte page at 1 GiB) streams as zeros.
        while next < offset {
            let gap = Int(min(Int64(Self.zeros.count), offset - next))
            guard Self.zeros.withUnsafeBytes({ sink(UnsafeRawBufferPointer(rebasing: $0[0..<gap])) }) else { return fail("the stream's reader stopped") }
            next += Int64(gap)
        }
        guard sink(bytes) else { return fail("the stream's reader stopped") }
        next += Int64(bytes.count)
        return SQLITE_OK
    }

    static let zeros = [UInt8](repeating: 0, count: 64 * 1024)

    func read(_ buffer: UnsafeMutableRawPointer, _ count: Int, at offset: Int64) -> Int32 {
        if offset + Int64(count) <= Int64(pageSize), let pageOne {
            pageOne.withUnsafeBytes { buffer.copyMemory(from: $0.baseAddress! + Int(offset), byteCount: count) }
            return SQLITE_OK
        }
        guard offset >= size else { return fail("the backup read back byte \(offset), which was already streamed") }
        memset(buffer, 0, count)
        return SQLITE_IOERR | (2 << 8)  // SQLITE_IOERR_SHORT_READ: past the end, zero-filled
    }

    func truncate(_ size: Int64) -> Int32 {
        size >= self.size ? SQLITE_OK : fail("the backup truncated the stream to \(size) bytes after \(self.size) were streamed")
    }

    /// The name under which `sqlite3_open_v2` reaches this stream through the VFS.
    var fileName: String {
        "entrypoint-stream-" + String(UInt(bitPattern: Unmanaged.passUnretained(self).toOpaque()), radix: 16)
    }
}

/// The VFS: registered once, under `name`, never the default. Its files are `PageStream`s, found by
/// the address in the file name (the stream outlives the connection that opens it).
enum PageStreamVFS {
    static let name = "entrypoint-stream"
    static let contextOffset = MemoryLayout<sqlite3_file>.stride

    /// True once the VFS is registered (a static let: registered once, thread-safe).
    static let registered: Bool = {
        guard let base = sqlite3_vfs_find(nil) else { return false }
        let methods = UnsafeMutablePointer<sqlite3_io_methods>.allocate(capacity: 1)
        methods.initialize(to: ioMethods())
        let vfs = UnsafeMutablePointer<sqlite3_vfs>.allocate(capacity: 1)
        var v = base.pointee
        v.iVersion = 1
        v.szOsFile = Int32(contextOffset + MemoryLayout<UnsafeMutableRawPointer>.stride)
        v.pNext = nil
        v.zName = UnsafePointer(strdup(name))
        v.pAppData = UnsafeMutableRawPointer(methods)
        v.xOpen = { vfs, name, file, flags, outFlags in
            guard let vfs, let name, let file, flags & SQLITE_OPEN_MAIN_DB != 0 else { return SQLITE_CANTOPEN }
            let text = String(cString: name)
            guard let dash = text.lastIndex(of: "-"), let address = UInt(text[text.index(after: dash)...], radix: 16),
                let context = UnsafeMutableRawPointer(bitPattern: address)
            else { return SQLITE_CANTOPEN }
            file.pointee.pMethods = UnsafePointer(vfs.pointee.pAppData.assumingMemoryBound(to: sqlite3_io_methods.self))
            (UnsafeMutableRawPointer(file) + PageStreamVFS.contextOffset).storeBytes(of: context, as: UnsafeMutableRawPointer.self)
            outFlags?.pointee = flags
            return SQLITE_OK
        }
        v.xDelete = { _, _, _ in SQLITE_OK }
        v.xAccess = { _, _, _, result in
            result?.pointee = 0
            return SQLITE_OK
        }
        v.xFullPathname = { _, name, size, out in
            guard let name, let out, strlen(name) < Int(size) else { return SQLITE_CANTOPEN }
            strcpy(out, name)
            return SQLITE_OK
        }
        v.xDlOpen = nil
        v.xDlError = nil
        v.xDlSym = nil
        v.xDlClose = nil
        vfs.initialize(to: v)
        return sqlite3_vfs_register(vfs, 0) == SQLITE_OK
    }()

    static func stream(_ file: UnsafeMutablePointer<sqlite3_file>?) -> PageStream {
        let raw = (UnsafeMutableRawPointer(file!) + contextOffset).load(as: UnsafeMutableRawPointer.self)
        return Unmanaged<PageStream>.fromOpaque(raw).takeUnretainedValue()
    }

    static func ioMethods() -> sqlite3_io_methods {
        var m = sqlite3_io_methods()
        m.iVersion = 1
        m.xClose = { _ in SQLITE_OK }
        m.xRead = { file, buffer, count, offset in PageStreamVFS.stream(file).read(buffer!, Int(count), at: offset) }
        m.xWrite = { file, bytes, count, offset in
            PageStreamVFS.stream(file).write(UnsafeRawBufferPointer(start: bytes, count: Int(count)), at: offset)
        }
        m.xTruncate = { file, size in PageStreamVFS.stream(file).truncate(size) }
        m.xSync = { _, _ in SQLITE_OK }
        m.xFileSize = { file, size in
            size?.pointee = PageStreamVFS.stream(file).size
            return SQLITE_OK
        }
        m.xLock = { _, _ in SQLITE_OK }
        m.xUnlock = { _, _ in SQLITE_OK }
        m.xCheckReservedLock = { _, result in
            result?.pointee = 0
            return SQLITE_OK
        }
        m.xFileControl = { _, _, _ in SQLITE_NOTFOUND }
        m.xSectorSize = { _ in 4096 }
        m.xDeviceCharacteristics = { _ in 0 }
        return m
    }
}
