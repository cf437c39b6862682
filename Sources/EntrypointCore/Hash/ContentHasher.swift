// The content hash computed in order as bytes arrive.
import CCrypto
import Glibc

/// The content hash computed as bytes arrive (downloads, uploads), in order, one pass.
public final class ContentHasher {
    private let block = SHA256()
    private var inBlock = 0
    private var digests: [UInt8] = []
    private let scratch = UnsafeMutablePointer<UInt8>.allocate(capacity: 32)
    public private(set) var byteCount: UInt64 = 0

    public init() {}
    deinit { scratch.deallocate() }

    public func update(_ bytes: UnsafeRawBufferPointer) {
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

    private func closeBlock() {
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
}
