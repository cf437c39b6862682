// The data hash of a SQLite database file: its Dropbox content hash computed with the page-1 header
// fields that SQLite rewrites without any change of data set to zero. Two files with the same data
// hash hold the same data, page for page. It is what proves that the live database and the snapshot
// a backup uploaded hold the same data, although SQLite's online backup API gives the copy another
// change counter, schema cookie and version fields (docs/design.md, "The record").
import CCrypto
import Glibc

public enum DataHash {
    /// Byte ranges of the 100-byte database header that differ between a database and its online
    /// backup: the file format versions (18-19, WAL or rollback), the file change counter (24-27),
    /// the schema cookie (40-43, which the backup API increments), and the version-valid-for number
    /// with the SQLite version that wrote it (92-99).
    static let volatileHeaderRanges: [Range<Int>] = [18..<20, 24..<28, 40..<44, 92..<100]

    /// Both hashes of a file in one pass: `content` is Dropbox's content hash of the bytes as they
    /// are, `data` the data hash.
    public static func ofFile(_ path: String, cancel: HashCancel? = nil) throws(SystemError) -> (content: String, data: String) {
        let file = try FileDescriptor.open(path, O_RDONLY)
        return try ofDescriptor(file.raw, size: try FileIO.size(file.raw), cancel: cancel)
    }

    /// Both hashes of the first `size` bytes of `fd`.
    public static func ofDescriptor(_ fd: Int32, size: Int64, cancel: HashCancel? = nil) throws(SystemError) -> (content: String, data: String) {
        let all = try withBlocks(fd, size: size, cancel: cancel)
        return (all.content, all.data)
    }

    /// Both hashes, and the 32-byte digest of every 4 MiB block of the content hash (an upload
    /// session's chunk hashes are made from them, without reading the file again).
    static func withBlocks(_ fd: Int32, size: Int64, cancel: HashCancel? = nil) throws(SystemError) -> (content: String, data: String, blocks: [UInt8]) {
        var digests = try ContentHash.blockDigests(fd, size: size, cancel: cancel)
        let blocks = digests
        let content = ContentHash.finish(digests)
        guard !digests.isEmpty else { return (content, content, blocks) }
        // Only the first block holds the header: hash it again with the volatile fields zeroed.
        let length = Int(min(size, Int64(ContentHash.blockSize)))
        var block = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let n = block.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw SystemError(errno: n < 0 ? errno : EIO, call: "pread") }
            done += n
        }
        mask(&block)
        let sha = SHA256()
        block.withUnsafeBytes { sha.update($0) }
        let first = sha.finish()
        for i in 0..<32 { digests[i] = first[i] }
        return (content, ContentHash.finish(digests), blocks)
    }

    /// Zeroes the volatile header fields in the first bytes of a file.
    static func mask(_ block: inout [UInt8]) {
        for range in volatileHeaderRanges where range.upperBound <= block.count {
            for i in range { block[i] = 0 }
        }
    }
}
