import Foundation
import TestSupport
import Testing

@testable import EntrypointCore

/// The download's hasher: a second thread fed through a ring must give exactly ContentHasher's result.
@Suite struct PipelinedContentHasherTests {
    static func randomBytes(_ count: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
    }

    /// Odd ring sizes wrap mid-chunk; small ones make the producer wait for the hasher.
    @Test(arguments: [4099, 65536, 1 << 20])
    func equalsInlineHasherInOddChunks(capacity: Int) throws {
        let bytes = Self.randomBytes(4 * 1024 * 1024 + 777_777)
        let inline = ContentHasher()
        inline.update(bytes)
        let dir = TempDir()
        let path = dir.file("pch")
        let fd = open(path, O_RDWR | O_CREAT, 0o600)
        #expect(fd >= 0)
        defer { close(fd) }
        let piped = PipelinedContentHasher(capacity: capacity, writeback: fd)
        var offset = 0
        var step = 0
        let sizes = [1, 7, 16384, 5000, 300_000, 2, 1 << 20]
        while offset < bytes.count {
            let end = min(bytes.count, offset + sizes[step % sizes.count])
            bytes[offset..<end].withUnsafeBytes { chunk in
                _ = pwrite(fd, chunk.baseAddress, chunk.count, off_t(offset))
                piped.update(chunk)
            }
            offset = end
            step += 1
        }
        #expect(piped.byteCount == UInt64(bytes.count))
        let hash = piped.finalize()
        #expect(hash == inline.finalize())
        #expect(piped.finalize() == hash)
        #expect(try ContentHash.ofFile(path) == hash)
    }

    @Test func emptyStreamIsTheEmptyHash() {
        #expect(PipelinedContentHasher().finalize() == ContentHash.empty)
    }

    @Test func droppedWithoutFinalizeStopsItsThread() {
        for _ in 0..<50 {
            let piped = PipelinedContentHasher(capacity: 4096)
            [UInt8](repeating: 1, count: 10_000).withUnsafeBytes { piped.update($0) }
        }
    }
}
