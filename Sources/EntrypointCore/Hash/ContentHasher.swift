// The content hash computed in order as bytes arrive.
import CCrypto
import Glibc

/// The content hash computed as bytes arrive (downloads, uploads), in order, one pass. With
/// `dataHash`, it also computes the data hash (DataHash) of the same stream: the two differ only in
/// block 0, whose digest is taken a second time with the volatile header fields zeroed, so a
/// download needs no second read of the file for it.
public final class ContentHasher {
    private let block = SHA256()
    private var inBlock = 0
    private var digests: [UInt8] = []
    private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 32)
    public private(set) var byteCount: UInt64 = 0
    /// The masked digest of block 0 (data hash only): the header bytes wait in `header` until all
    /// of them are here (or the stream ends), then go in masked.
    private let masked: SHA256?
    private var header: [UInt8] = []
    private var firstDigest: [UInt8]?
    static let headerLength = 100

    public init(dataHash: Bool = false) {
        masked = dataHash ? SHA256() : nil
    }
    deinit { scratch.deallocate() }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        if let masked, byteCount < UInt64(ContentHash.blockSize) { feedMasked(masked, bytes) }
        var offset = 0
        while offset < bytes.count {
            let take = min(bytes.count - offset, ContentHash.blockSize - inBlock)
            block.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
            inBlock += take
            offset += take
            if inBlock == ContentHash.blockSize { closeBlock() }
        }
        byteCount += UInt64(bytes.count)
    }

    public func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// Block 0's part of `bytes` (which start at `byteCount`) into the masked digest.
    private func feedMasked(_ masked: SHA256, _ bytes: UnsafeRawBufferPointer) {
        let start = Int(byteCount)
        let inFirst = min(bytes.count, ContentHash.blockSize - start)
        var offset = 0
        if start < Self.headerLength {
            let take = min(inFirst, Self.headerLength - start)
            header.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[0..<take]))
            offset = take
            if header.count == Self.headerLength { flushHeader(masked) }
        }
        if offset < inFirst { masked.update(UnsafeRawBufferPointer(rebasing: bytes[offset..<inFirst])) }
    }

    private func flushHeader(_ masked: SHA256) {
        DataHash.mask(&header)
        header.withUnsafeBytes { masked.update($0) }
        header = []
    }

    private func closeBlock() {
        if let masked, digests.isEmpty {
            if !header.isEmpty { flushHeader(masked) }
            firstDigest = masked.finish()
        }
        block.finish(into: scratch)
        digests.append(contentsOf: UnsafeBufferPointer(start: scratch, count: 32))
        block.reset()
        inBlock = 0
    }

    /// The hex content hash of everything so far.
    public func finalize() -> String {
        if inBlock > 0 { closeBlock() }
        return ContentHash.finish(digests)
    }

    /// The content hash and the data hash of everything so far (made with `dataHash: true`).
    public func finalizeBoth() -> (content: String, data: String) {
        let content = finalize()
        guard let first = firstDigest, !digests.isEmpty else { return (content, content) }
        var data = digests
        for i in 0..<32 { data[i] = first[i] }
        return (content, ContentHash.finish(data))
    }
}
