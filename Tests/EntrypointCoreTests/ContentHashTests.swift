// Dropbox's content hash: the published vectors around the 4 MiB block boundaries, the same result
// streamed in any chunk size or with fewer threads, and never a plain SHA-256 of the file.
import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

@Suite struct ContentHashTests {
    /// rclone's full dbhash table (backend/dropbox/dbhash/dbhash_test.go): n bytes of "A", around each
    /// 4 MiB block boundary; dropbox-api.md §1.6 quotes the same vectors (0, 1, 4194304 in full, the
    /// others by prefix and suffix), so this table holds them.
    static let vectors: [(Int, String)] = [
        (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (1, "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42"),
        (2, "01e0655fb754d10418a73760f57515f4903b298e6d67dda6bf0987fa79c22c88"),
        (4096, "8620913d33852befe09f16fff8fd75f77a83160d29f76f07e0276e9690903035"),
        (4_194_303, "647c8627d70f7a7d13ce96b1e7710a771a55d41a62c3da490d92e56044d311fa"),
        (4_194_304, "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3"),
        (4_194_305, "8f553da8d00d0bf509d8470e242888be33019c20c0544811f5b2b89e98360b92"),
        (8_388_607, "83b30cf4fb5195b04a937727ae379cf3d06673bf8f77947f6a92858536e8369c"),
        (8_388_608, "e08b3ba1f538804075c5f939accdeaa9efc7b5c01865c94a41e78ca6550a88e7"),
        (8_388_609, "02c8a4aefc2bfc9036f89a7098001865885938ca580e5c9e5db672385edd303c"),
    ]
    /// The chunk sizes rclone's test feeds the streaming hasher with (TestHashChunk16M ... TestHashChunk2047).
    static let chunkSizes = [16 << 20, 8 << 20, 4 << 20, 2 << 20, 1 << 20, 64 << 10, 32 << 10, 2048, 2047]

    func file(of count: Int, in dir: TempDir) throws -> String {
        let path = dir.file("ch-\(count)")
        try Data(repeating: UInt8(ascii: "A"), count: count).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: vectors)
    func fullVectors(count: Int, expected: String) throws {
        let dir = TempDir()
        let path = try file(of: count, in: dir)
        #expect(try ContentHash.ofFile(path) == expected)
        for threads in [1, 2, 3] {
            #expect(try ContentHash.ofFile(path, threads: threads) == expected, "threads=\(threads)")
        }
        // The same bytes behind a 3-byte prefix: ofDescriptor hashes `size` bytes from `offset`.
        let shifted = path + ".shifted"
        var data = Data("xyz".utf8)
        data.append(Data(repeating: UInt8(ascii: "A"), count: count))
        try data.write(to: URL(fileURLWithPath: shifted))
        defer { unlink(shifted) }
        for (file, offset) in [(path, Int64(0)), (shifted, Int64(3))] {
            let fd = open(file, O_RDONLY)
            try #require(fd >= 0)
            defer { close(fd) }
            for threads in [1, 3] {
                #expect(
                    try ContentHash.ofDescriptor(fd, offset: offset, size: Int64(count), threads: threads) == expected, "offset=\(offset) threads=\(threads)")
            }
        }
        let hasher = ContentHasher()
        hasher.update([UInt8](repeating: UInt8(ascii: "A"), count: count))
        #expect(hasher.finalize() == expected)
    }

    /// rclone's testChunk: every vector written as whole `chunk`-sized pieces, then the rest (possibly
    /// empty), through both streaming hashers (the pipelined one with a ring smaller than some chunks).
    @Test(arguments: chunkSizes)
    func vectorsInRcloneChunks(chunk: Int) {
        let data = [UInt8](repeating: UInt8(ascii: "A"), count: chunk)
        data.withUnsafeBytes { all in
            for (count, expected) in Self.vectors {
                let hasher = ContentHasher()
                let piped = PipelinedContentHasher(capacity: 1 << 20)
                var left = count
                while left >= chunk {
                    hasher.update(all)
                    piped.update(all)
                    left -= chunk
                }
                let rest = UnsafeRawBufferPointer(rebasing: all[0..<left])
                hasher.update(rest)
                piped.update(rest)
                #expect(hasher.byteCount == UInt64(count))
                #expect(piped.byteCount == UInt64(count))
                #expect(hasher.finalize() == expected, "ContentHasher: \(count) bytes in chunks of \(chunk)")
                #expect(piped.finalize() == expected, "PipelinedContentHasher: \(count) bytes in chunks of \(chunk)")
            }
        }
    }

    // A thread that cannot be started means fewer workers, not a failed hash.
    @Test func aFailedThreadStartMeansFewerWorkers() throws {
        let dir = TempDir()
        let path = dir.file("ch-threads")
        // 7 blocks and a bit, every block different, so a block hashed twice or skipped shows.
        let random = try #require(FileHandle(forReadingAtPath: "/dev/urandom")).readData(ofLength: 7 * ContentHash.blockSize + 123)
        try random.write(to: URL(fileURLWithPath: path))
        let expected = try ContentHash.ofFile(path, threads: 1)
        let fd = open(path, O_RDONLY)
        defer { close(fd) }
        let size = Int64(7 * ContentHash.blockSize + 123)
        let serial = try ContentHash.blockDigests(fd, size: size, threads: 1)
        #expect(ContentHash.finish(serial) == expected)
        // No thread can be started at all.
        let none = try ContentHash.blockDigests(fd, size: size, threads: 4) { _ in nil }
        #expect(none == serial)
        // Every other start fails.
        final class Counter: @unchecked Sendable { var n = 0 }
        let counter = Counter()
        let some = try ContentHash.blockDigests(fd, size: size, threads: 5) { body in
            counter.n += 1
            return counter.n % 2 == 0 ? nil : ContentHash.startThread(body)
        }
        #expect(counter.n == 4)
        #expect(some == serial)
        #expect(try ContentHash.ofFile(path, threads: 3) == expected)
    }

    @Test func streamingInOddChunksEqualsFileHash() throws {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<(9 * 1024 * 1024 + 12345)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let dir = TempDir()
        let path = dir.file("ch-random")
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let hasher = ContentHasher()
        var offset = 0
        for size in [1, 7, 65536, 4_194_303, 2, 1 << 20] where offset < bytes.count {
            let end = min(bytes.count, offset + size)
            hasher.update(Array(bytes[offset..<end]))
            offset = end
        }
        hasher.update(Array(bytes[offset...]))
        #expect(hasher.byteCount == UInt64(bytes.count))
        #expect(hasher.finalize() == (try ContentHash.ofFile(path)))
    }

    @Test func hashOfPlainSHA256DiffersFromContentHash() {
        // The seed compared plain SHA-256 with content_hash: they differ for any non-empty file.
        let hasher = ContentHasher()
        hasher.update(Array("hello".utf8))
        #expect(hasher.finalize().hasPrefix("9595c9df"))
        #expect(!hasher.finalize().hasPrefix("2cf24dba"))
    }

    @Test func missingFileThrowsENOENT() {
        #expect(throws: SystemError.self) { try ContentHash.ofFile("/nonexistent/file") }
    }
}
