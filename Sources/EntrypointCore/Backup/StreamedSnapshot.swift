// A WAL database's snapshot streamed, never copied to the volume: two passes of SQLite's online
// backup inside one read transaction of the source (both read the same state; the app's writers are
// never blocked by a WAL reader). Pass 1 hashes (content hash, data hash) and learns page 1, which
// the backup writes last; pass 2 streams page 1 first and then every other page in order, to an
// upload. Pass 2's bytes are pass 1's: checked as they go (the page-1 bytes written at the end of
// pass 2 must equal pass 1's, and the stream's size too) (docs/design.md, "The streamed snapshot").
import CSQLite
import Glibc

extension SQLite {
    /// What pass 1 learned: enough to decide (the hashes) and to stream page 1 first.
    struct StreamedSnapshot: Equatable {
        let pageOne: [UInt8]
        let size: Int64
        let contentHash: String
        let dataHash: String
        /// The content hash's 32-byte block digests (an upload session's chunk hashes).
        let blockDigests: [UInt8]
    }

    /// Runs the online backup of `source` (a connection inside a read transaction) into a stream.
    /// `pages` per step; `stop` is checked between steps.
    static func streamPages(
        _ source: Connection, pageSize: Int, stop: () -> Int32, sink: @escaping (UnsafeRawBufferPointer) -> Bool
    ) throws(EntrypointError) -> (pageOne: [UInt8], size: Int64) {
        guard PageStreamVFS.registered else {
            throw EntrypointError(.software, "cannot register SQLite's VFS \(PageStreamVFS.name) for the streamed snapshot")
        }
        let stream = PageStream(pageSize: pageSize, sink: sink)
        let to = try withExtendedLifetime(stream) { () throws(EntrypointError) -> Connection in
            var handle: OpaquePointer?
            let rc = sqlite3_open_v2(stream.fileName, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, PageStreamVFS.name)
            guard rc == SQLITE_OK, let handle else {
                sqlite3_close_v2(handle)
                throw EntrypointError(.software, "cannot open the streamed snapshot: \(String(cString: sqlite3_errstr(rc)))")
            }
            return Connection(adopting: handle, path: "the streamed snapshot of \(source.path)")
        }
        // No journal, no sync, a small page cache (it spills pages in order as the copy goes): 256 KiB,
        // at least 8 pages. In pages: a size in KiB would be counted in the empty destination's 4 KiB
        // pages, kept when the backup gives it the source's page size (64 pages of 64 KiB: 4 MiB).
        let cachePages = max(8, SnapshotTuning.destinationCache / pageSize)
        for pragma in ["PRAGMA journal_mode=OFF", "PRAGMA synchronous=OFF", "PRAGMA cache_size=\(cachePages)", "PRAGMA locking_mode=EXCLUSIVE"] {
            _ = try to.query(pragma)
        }
        guard let backup = sqlite3_backup_init(to.db, "main", source.db, "main") else {
            throw EntrypointError(.localIO, "cannot start the streamed snapshot of \(source.path): \(to.errorMessage)")
        }
        let step = Int32(max(1, SnapshotTuning.stepBytes / pageSize))
        var rc: Int32 = SQLITE_OK
        var signal: Int32 = 0
        while rc == SQLITE_OK {
            signal = stop()
            if signal != 0 { break }
            rc = sqlite3_backup_step(backup, step)
        }
        let finish = sqlite3_backup_finish(backup)
        if signal != 0 { throw EntrypointError(signal: signal) }
        if let failure = stream.failure {
            throw EntrypointError(.localIO, "the streamed snapshot of \(source.path) failed: \(failure); nothing was uploaded")
        }
        guard rc == SQLITE_DONE, finish == SQLITE_OK, let pageOne = stream.pageOne else {
            let code = rc == SQLITE_DONE ? finish : rc
            throw EntrypointError(
                .localIO, "the streamed snapshot of \(source.path) failed: \(String(cString: sqlite3_errstr(code))) (\(to.errorMessage)); nothing was uploaded")
        }
        return (pageOne, stream.size)
    }

    /// Pass 1: the hashes of the snapshot and its page 1. Block 0 (page 1's block) waits in memory
    /// until page 1 arrives, last; every later block is hashed as it completes.
    static func hashPass(_ source: Connection, pageSize: Int, stop: () -> Int32) throws(EntrypointError) -> StreamedSnapshot {
        let hasher = BlockHasher(pageSize: pageSize)
        let (pageOne, size) = try streamPages(source, pageSize: pageSize, stop: stop) { bytes in
            hasher.update(bytes)
            return true
        }
        let (content, data, blocks) = hasher.finish(pageOne: pageOne)
        return StreamedSnapshot(pageOne: pageOne, size: size, contentHash: content, dataHash: data, blockDigests: blocks)
    }

    /// Pass 2: `sink` gets page 1 (pass 1's) and then every other page in order. Throws when the
    /// stream differs from pass 1's in page 1 or in size (the read transaction was not the same).
    static func streamPass(
        _ source: Connection, _ expected: StreamedSnapshot, stop: () -> Int32, sink: @escaping (UnsafeRawBufferPointer) -> Bool
    ) throws(EntrypointError) {
        guard expected.pageOne.withUnsafeBytes({ sink($0) }) else {
            throw EntrypointError(.localIO, "the streamed snapshot of \(source.path) stopped: its reader stopped; nothing was uploaded")
        }
        let (pageOne, size) = try streamPages(source, pageSize: expected.pageOne.count, stop: stop, sink: sink)
        guard pageOne == expected.pageOne, size == expected.size else {
            throw EntrypointError(
                .localIO, "the streamed snapshot of \(source.path) differs between its two passes (\(size) bytes, then \(expected.size)); nothing was uploaded")
        }
    }
}

/// Dropbox's content hash and the data hash of a stream whose first page comes last: block 0 is
/// kept (at most 4 MiB) until then.
final class BlockHasher {
    private let pageSize: Int
    private var blockZero: [UInt8] = []
    private var digests: [UInt8] = []
    private let current = SHA256()
    private var inBlock = 0
    private var position: Int

    init(pageSize: Int) {
        self.pageSize = pageSize
        position = pageSize
        blockZero.reserveCapacity(max(0, ContentHash.blockSize - pageSize))  // grown in place, never reallocated
    }

    func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        if position < ContentHash.blockSize {
            let take = min(bytes.count, ContentHash.blockSize - position)
            blockZero.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<take]))
            offset = take
            position += take
        }
        while offset < bytes.count {
            let take = min(bytes.count - offset, ContentHash.blockSize - inBlock)
            current.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
            inBlock += take
            offset += take
            position += take
            if inBlock == ContentHash.blockSize { close() }
        }
    }

    private func close() {
        digests.append(contentsOf: current.finish())
        current.reset()
        inBlock = 0
    }

    func finish(pageOne: [UInt8]) -> (content: String, data: String, blocks: [UInt8]) {
        if inBlock > 0 { close() }
        // Block 0 is page 1 and then blockZero, hashed in place: no copy of its 4 MiB. The volatile
        // header fields are all in page 1's first 100 bytes: only page 1 is copied to be masked.
        var masked = pageOne
        DataHash.mask(&masked)
        let zero = SHA256()
        let maskedDigest = SHA256()
        pageOne.withUnsafeBytes { zero.update($0) }
        masked.withUnsafeBytes { maskedDigest.update($0) }
        blockZero.withUnsafeBytes {
            zero.update($0)
            maskedDigest.update($0)
        }
        let blocks = zero.finish() + digests
        return (ContentHash.finish(blocks), ContentHash.finish(maskedDigest.finish() + digests), blocks)
    }
}
