// The rollback-journal ways of the snapshot (docs/design.md, "The backup", step 3): the file's own
// bytes in checked steps, the read lock released between them, and, for an app that commits
// throughout, the copy made consistent under one read lock. Both read the source through its SQLite
// connection's own file handle (SourceFile.swift).
import CSQLite
import CShims
import Glibc

extension SnapshotRun {
    /// Rollback journal: the file's own bytes copied in steps of `SnapshotTuning.stepBytes`, each
    /// step inside one read transaction (SQLite's shared lock: no writer can change the file while
    /// it is held, and taking it rolls back any hot journal), the lock released between steps.
    /// Every step first reads the database header's bytes 24-39 (file change counter, page count,
    /// freelist trunk and count) and the file's size under its lock: SQLite increments the change
    /// counter with every commit in a rollback-journal mode, and its own page cache trusts exactly
    /// these bytes to tell whether another connection wrote (the pager's `dbFileVers`), so when they
    /// equal the first step's, no commit happened in between and the chunks form one state. When
    /// they differ the copy starts over (a restart). Returns `.steps` when the copy completed,
    /// `.lockedCopy` (not yet made) after more than `maxRestarts` restarts, nil when a step found
    /// the database in WAL mode (the caller starts again).
    ///
    /// The copy is the live file byte for byte, page 1 included; SQLite's backup API (used before)
    /// copied page by page through both page caches, 5-10 times as slow here, and rewrote the header.
    func steps() throws(EntrypointError) -> SQLite.SnapshotReport? {
        let input = try SourceFile(from, source)
        let output = try FileIO.operation("open", destination) { () throws(SystemError) in try FileIO.open(destination, O_RDWR | O_CREAT, 0o600) }
        defer { FileIO.close(output) }
        let chunk = SQLite.SnapshotTuning.stepBytes
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        var version: [UInt8]?
        var fileSize: Int64 = 0
        var offset: Int64 = 0
        var report = SQLite.SnapshotReport(method: .steps)
        while true {
            try checkStop()
            guard try beginByteCopyRead(emptying: output) else { return nil }
            var inTransaction = true
            defer { if inTransaction { bestEffort("an error path: the error being thrown is the one to report", rollback()) } }
            let started = Clock.now()
            let size = try input.size()
            let got = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<16]), at: 24, 16)
            guard got == 16 else {
                throw EntrypointError(.localIO, "cannot read the header of \(source): it is \(size) bytes long while locked")
            }
            let header = Array(buffer[0..<16])
            if version != header || size != fileSize {
                if version != nil {
                    report.restarts += 1
                    if report.restarts > SQLite.SnapshotTuning.maxRestarts {
                        inTransaction = false
                        try endRead()
                        report.method = .lockedCopy
                        return report
                    }
                }
                version = header
                fileSize = size
                offset = 0
            }
            let want = Int(min(Int64(chunk), fileSize - offset))
            if want > 0 {
                let n = try input.read(into: buffer, at: offset, want)
                guard n == want else {
                    throw EntrypointError(.localIO, "cannot read \(source): it ended at \(offset + Int64(n)) of \(fileSize) bytes while locked")
                }
                try FileIO.operation("write", destination) { () throws(SystemError) in
                    try FileIO.pwriteAll(output, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), at: offset)
                }
                offset += Int64(n)
            }
            inTransaction = false
            try endRead()
            report.longestLock = max(report.longestLock, Clock.now() - started)
            if offset >= fileSize {
                try FileIO.operation("truncate", destination) { () throws(SystemError) in try FileIO.truncate(output, fileSize) }
                return report
            }
        }
    }

    /// The read transaction of one step of a byte copy. When the database turns out to be in WAL
    /// mode (the app switched), the transaction is ended, the torn copy in `output` emptied (the
    /// backup API must start from an empty file) and false returned: the caller starts again.
    func beginByteCopyRead(emptying output: Int32) throws(EntrypointError) -> Bool {
        guard try beginRead().wal else { return true }
        bestEffort("the transaction only read; ending it cannot lose anything", rollback())
        try FileIO.operation("truncate", destination) { () throws(SystemError) in try FileIO.truncate(output, 0) }
        return false
    }

    /// Reads up to `count` bytes at `offset` (fewer only at the end of the file).
    func readFully(_ fd: Int32, _ path: String, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64, _ count: Int) throws(EntrypointError) -> Int {
        var done = 0
        while done < count {
            let n = try FileIO.operation("read", path) { () throws(SystemError) in
                try FileIO.retrying("pread") { Glibc.pread(fd, buffer.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Rollback journal written throughout: a plain copy of the file, made consistent under one read
    /// lock. First the file is copied without any lock (a torn copy); then, holding SQLite's shared
    /// lock on the source (no writer can change the file meanwhile, and taking it rolled back any hot
    /// journal), every chunk of the file is read and compared with the copy and the chunks that
    /// differ are rewritten. The lock is held for reading the file twice, not for writing it.
    /// Returns the seconds the lock was held, or nil when the database turned out to be in WAL mode
    /// (then the caller starts again).
    func lockedCopy() throws(EntrypointError) -> Double? {
        let input = try SourceFile(from, source)
        let output = try FileIO.operation("open", destination) { () throws(SystemError) in try FileIO.open(destination, O_RDWR) }
        defer { FileIO.close(output) }
        let chunk = SQLite.SnapshotTuning.copyChunk
        let live = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { live.deallocate() }
        let copied = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { copied.deallocate() }

        func write(_ buffer: UnsafeMutableRawBufferPointer, _ count: Int, at offset: Int64) throws(EntrypointError) {
            try FileIO.operation("write", destination) { () throws(SystemError) in
                try FileIO.pwriteAll(output, UnsafeRawBufferPointer(rebasing: buffer[0..<count]), at: offset)
            }
        }

        // 1. The torn copy, without a lock.
        let roughSize = try input.size()
        var offset: Int64 = 0
        while offset < roughSize {
            try checkStop()
            let n = try input.read(into: live, at: offset, Int(min(Int64(chunk), roughSize - offset)))
            if n == 0 { break }
            try write(live, n, at: offset)
            offset += Int64(n)
        }

        // 2. Under the read lock: the chunks that changed meanwhile.
        guard try beginByteCopyRead(emptying: output) else { return nil }
        var inTransaction = true
        defer { if inTransaction { bestEffort("an error path: the error being thrown is the one to report", rollback()) } }
        let started = Clock.now()
        let fileSize = try input.size()
        offset = 0
        while offset < fileSize {
            try checkStop()
            let want = Int(min(Int64(chunk), fileSize - offset))
            let n = try input.read(into: live, at: offset, want)
            guard n == want else {
                throw EntrypointError(.localIO, "cannot read \(source): it ended at \(offset + Int64(n)) of \(fileSize) bytes while locked")
            }
            let m = try readFully(output, destination, into: copied, at: offset, want)
            if m != n || memcmp(live.baseAddress!, copied.baseAddress!, n) != 0 {
                try write(live, n, at: offset)
            }
            offset += Int64(n)
        }
        try FileIO.operation("truncate", destination) { () throws(SystemError) in try FileIO.truncate(output, fileSize) }
        inTransaction = false
        try endRead()
        return Clock.now() - started
    }
}
