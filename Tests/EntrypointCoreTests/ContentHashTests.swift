import Foundation
import Testing

@testable import EntrypointCore

@Suite struct ContentHashTests {
    /// rclone's dbhash vectors: n bytes of "A" (dropbox-api.md §1.6), around each 4 MiB boundary.
    static let vectors: [(Int, String)] = [
        (0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        (1, "1cd6ef71e6e0ff46ad2609d403dc3fee244417089aa4461245a4e4fe23a55e42"),
        (4_194_304, "d4d63bac5b866c71620185392a8a6218ac1092454a2d16f820363b69852befa3"),
    ]
    /// Only the prefix and suffix are published for these; both must match.
    static let partial: [(Int, String, String)] = [
        (4_194_303, "647c8627", "11fa"),
        (4_194_305, "8f553da8", "0b92"),
        (8_388_608, "e08b3ba1", "88e7"),
        (8_388_609, "02c8a4ae", "303c"),
    ]

    func file(of count: Int) throws -> String {
        let path = NSTemporaryDirectory() + "ch-\(count)-\(UUID().uuidString)"
        try Data(repeating: UInt8(ascii: "A"), count: count).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test(arguments: vectors)
    func fullVectors(count: Int, expected: String) throws {
        let path = try file(of: count)
        defer { unlink(path) }
        #expect(try ContentHash.ofFile(path) == expected)
        #expect(try ContentHash.ofFile(path, threads: 1) == expected)
        let hasher = ContentHasher()
        hasher.update([UInt8](repeating: UInt8(ascii: "A"), count: count))
        #expect(hasher.finalize() == expected)
    }

    // Issue 10: a thread that cannot be started means fewer workers, not a failed hash.
    @Test func aFailedThreadStartMeansFewerWorkers() throws {
        let path = NSTemporaryDirectory() + "ch-threads-\(UUID().uuidString)"
        defer { unlink(path) }
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

    @Test(arguments: partial)
    func boundaryVectors(count: Int, prefix: String, suffix: String) throws {
        let path = try file(of: count)
        defer { unlink(path) }
        for threads in [1, 2, 3] {
            let hash = try ContentHash.ofFile(path, threads: threads)
            #expect(hash.hasPrefix(prefix) && hash.hasSuffix(suffix), "threads=\(threads): \(hash)")
        }
    }

    @Test func streamingInOddChunksEqualsFileHash() throws {
        var rng = SystemRandomNumberGenerator()
        let bytes = (0..<(9 * 1024 * 1024 + 12345)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let path = NSTemporaryDirectory() + "ch-random-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        defer { unlink(path) }
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
