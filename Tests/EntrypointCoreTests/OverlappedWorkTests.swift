import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

/// The work that now overlaps or is folded into one pass must give exactly the results of
/// the sequential code (behaviour, not speed: the benchmark measures speed).
@Suite struct OverlappedWorkTests {
    static func randomBytes(_ count: Int) -> [UInt8] {
        let urandom = FileHandle(forReadingAtPath: "/dev/urandom")!
        defer { try? urandom.close() }
        return [UInt8](urandom.readData(ofLength: count))
    }

    static func write(_ bytes: [UInt8], in dir: TempDir) throws -> String {
        let path = dir.file("file")
        try FileIO.writeAtomically(path, bytes, mode: 0o600)
        return path
    }

    /// The download's pipelined hasher gives the data hash of the stream, equal to DataHash.ofFile of
    /// the same bytes, for short files (the masked header fields partly present), a whole header, one
    /// block and more, fed in odd chunks that split the header.
    @Test(arguments: [0, 1, 20, 30, 99, 100, 101, 4096, ContentHash.blockSize, ContentHash.blockSize + 1, 2 * ContentHash.blockSize + 12345])
    func pipelinedHasherGivesTheDataHash(size: Int) throws {
        let bytes = Self.randomBytes(size)
        let dir = TempDir()
        let path = try Self.write(bytes, in: dir)
        let expected = try DataHash.ofFile(path)
        for sizes in [[1], [7, 3, 50, 1 << 20], [100, 4096], [1 << 22, 1]] {
            let piped = PipelinedContentHasher(capacity: 65536, dataHash: true)
            var offset = 0
            var step = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + sizes[step % sizes.count])
                bytes[offset..<end].withUnsafeBytes { piped.update($0) }
                offset = end
                step += 1
                if sizes == [1] && offset > 300 {  // byte by byte through the header, then the rest at once
                    bytes[offset...].withUnsafeBytes { piped.update($0) }
                    offset = bytes.count
                }
            }
            let got = piped.finalizeBoth()
            #expect(got.content == expected.content, "size \(size), chunks \(sizes)")
            #expect(got.data == expected.data, "size \(size), chunks \(sizes)")
        }
        // Without dataHash, the content hash is unchanged and "both" are the content hash.
        let plain = ContentHasher()
        plain.update(bytes)
        #expect(plain.finalizeBoth() == (expected.content, expected.content))
    }

    /// A real database: the data hash from the stream equals the file's, and differs from the content hash.
    @Test func pipelinedDataHashOfADatabase() throws {
        let dir = TempDir()
        let db = dir.file("d.db")
        try DB.sql(db, "CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(6000000));")
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: db)))
        let piped = PipelinedContentHasher(dataHash: true)
        bytes.withUnsafeBytes { piped.update($0) }
        let got = piped.finalizeBoth()
        let expected = try DataHash.ofFile(db)
        #expect(got.content == expected.content && got.data == expected.data)
        #expect(got.data != got.content)
    }

    /// The warm start's background hash: the same result as the call on this thread, its errors too.
    @Test func backgroundHashEqualsTheDirectCall() throws {
        let bytes = Self.randomBytes(3 * ContentHash.blockSize + 5)
        let dir = TempDir()
        let path = try Self.write(bytes, in: dir)
        let background = BackgroundDataHash(path: path)
        let got = try background.wait()
        let direct = try DataHash.ofFile(path)
        #expect(got == direct)
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        #expect(try BackgroundDataHash(fd: fd, size: Int64(bytes.count)).wait() == direct)
        let missing = BackgroundDataHash(path: path + "-missing")
        #expect(throws: SystemError.self) { try missing.wait() }
        do {
            _ = try BackgroundDataHash(path: path + "-missing").wait()
        } catch {
            #expect(error.errno == ENOENT)
        }
    }

    /// Dropped without wait() (the network side failed first), the hash is cancelled and its
    /// thread joined: it stops at the next block instead of reading the whole file.
    @Test func droppedBackgroundHashIsCancelled() throws {
        let cancel = HashCancel()
        cancel.set()
        let dir = TempDir()
        let path = try Self.write(Self.randomBytes(2 * ContentHash.blockSize), in: dir)
        do {
            _ = try DataHash.ofFile(path, cancel: cancel)
            Issue.record("a cancelled hash returned a result")
        } catch {
            #expect(error.errno == ECANCELED)
        }
        for _ in 0..<20 { _ = BackgroundDataHash(path: path) }  // each joins before it goes
    }

    /// An upload session's chunk hashes from the block digests of the one hash pass: equal to
    /// hashing the chunk's bytes again, for aligned chunks and the short last one; nil otherwise.
    @Test func chunkHashesFromBlockDigests() throws {
        let bs = ContentHash.blockSize
        let size = 5 * bs + 777
        let dir = TempDir()
        let path = try Self.write(Self.randomBytes(size), in: dir)
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let all = try DataHash.withBlocks(fd, size: Int64(size))
        #expect(all.content == (try ContentHash.ofFile(path)))
        for (offset, length) in [(0, bs), (0, 2 * bs), (bs, 2 * bs), (4 * bs, bs + 777), (0, size), (5 * bs, 777)] {
            let fromBlocks = ContentHash.ofRange(blocks: all.blocks, size: Int64(size), offset: Int64(offset), length: Int64(length))
            #expect(fromBlocks == (try ContentHash.ofDescriptor(fd, offset: Int64(offset), size: Int64(length))), "\(offset)+\(length)")
        }
        for (offset, length) in [(1, bs), (0, bs + 1), (bs, size), (0, 0)] {
            #expect(ContentHash.ofRange(blocks: all.blocks, size: Int64(size), offset: Int64(offset), length: Int64(length)) == nil, "\(offset)+\(length)")
        }
    }

    /// quick_check reads through a read-only map covering the file.
    @Test func verifyConnectionMapsTheWholeFile() throws {
        let dir = TempDir()
        let db = dir.file("m.db")
        try DB.sql(db, "CREATE TABLE t(x); INSERT INTO t VALUES (randomblob(3000000));")
        let size = Int64(FileIO.statIfPresent(db)!.st_size)
        let connection = try SQLite.verifyConnection(db)
        #expect(try connection.query("PRAGMA mmap_size") == ["\(size)"])
        #expect(try connection.query("PRAGMA quick_check") == ["ok"])
        try SQLite.verify(db, what: "the test database")
        #expect(SQLite.sidecars(db).isEmpty, "read-only and immutable: no sidecar files")
    }
}
