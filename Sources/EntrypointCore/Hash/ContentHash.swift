// The Dropbox content hash: SHA-256 of each 4 MiB block, then SHA-256 of the concatenated block
// digests, hex-encoded (dropbox.com/developers/reference/content-hash). SHA-256 is OpenSSL's EVP,
// which TLS links anyway. Nothing here knows about Dropbox's API.
import CCrypto
import CShims
import Glibc

public enum ContentHash {
    public static let blockSize = 4 * 1024 * 1024
    /// The hash of an empty file (no blocks): SHA-256 of nothing.
    public static let empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    static func hex(_ digest: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(digest.count * 2)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The content hash of a whole file, blocks hashed in parallel on all cores with positioned reads.
    /// - Throws: the failing system call; `EINTR` (call `hash`) when a stop signal arrived.
    public static func ofFile(_ path: String, threads: Int? = nil) throws(SystemError) -> String {
        let file = try FileDescriptor.open(path, O_RDONLY)
        return try ofDescriptor(file.raw, size: try FileIO.size(file.raw), threads: threads)
    }

    /// The content hash of `size` bytes of `fd` starting at `offset` (an upload chunk, or the whole file).
    public static func ofDescriptor(_ fd: Int32, offset: Int64 = 0, size: Int64, threads: Int? = nil) throws(SystemError) -> String {
        finish(try blockDigests(fd, offset: offset, size: size, threads: threads))
    }

    /// Starts `body` on a new thread; nil when the thread could not be created (tests inject failures).
    typealias ThreadStarter = (_ body: @escaping @Sendable () -> Void) -> PosixThread?

    static func startThread(_ body: @escaping @Sendable () -> Void) -> PosixThread? {
        try? PosixThread.start(body)
    }

    /// The 32-byte SHA-256 digest of each 4 MiB block of `size` bytes of `fd` from `offset`, concatenated.
    /// Workers take the next block from a shared counter, so a thread that could not be started
    /// (PosixThread.start failed: thread limit, memory) only means fewer workers; the calling thread
    /// always works too, so the hash never depends on a thread being available.
    /// `cancel` set from another thread stops the workers at their next block (ECANCELED).
    static func blockDigests(
        _ fd: Int32, offset: Int64 = 0, size: Int64, threads: Int? = nil, cancel: HashCancel? = nil,
        startThread: ThreadStarter = startThread
    ) throws(SystemError) -> [UInt8] {
        let blocks = Int((size + Int64(blockSize) - 1) / Int64(blockSize))
        if blocks == 0 { return [] }
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let workers = max(1, min(threads ?? cores, blocks, 16))
        bestEffort("a read-ahead hint; the hash is the same without it", posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL))
        let job = BlockJob(fd: fd, base: offset, size: size, blocks: blocks, cancel: cancel)
        var threads: [PosixThread] = []
        for _ in 1..<workers {
            if let thread = startThread({ job.work() }) { threads.append(thread) }
        }
        job.work()
        for thread in threads { thread.join() }
        if let error = job.error { throw error }
        return job.digests
    }

    /// The content hash of `length` bytes from `offset` of a file whose block digests are `blocks`
    /// (from `blockDigests` of the whole file, `size` bytes), when the range starts on a block
    /// boundary and ends on one or at the end of the file; nil otherwise.
    static func ofRange(blocks: [UInt8], size: Int64, offset: Int64, length: Int64) -> String? {
        let bs = Int64(blockSize)
        guard offset >= 0, length > 0, offset % bs == 0, offset + length <= size,
            length % bs == 0 || offset + length == size
        else { return nil }
        let first = Int(offset / bs)
        let count = Int((length + bs - 1) / bs)
        guard (first + count) * 32 <= blocks.count else { return nil }
        return finish(Array(blocks[first * 32..<(first + count) * 32]))
    }

    /// The content hash of bytes in memory (a streamed upload's chunk tail, resent).
    static func ofBytes(_ bytes: UnsafeRawBufferPointer) -> String {
        let hasher = ContentHasher()
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// SHA-256 over the concatenated 32-byte block digests.
    static func finish(_ blockDigests: [UInt8]) -> String {
        let sha = SHA256()
        blockDigests.withUnsafeBytes { sha.update($0) }
        return hex(sha.finish())
    }
}

/// Workers take blocks from a shared counter; each has its own read buffer and EVP context.
final class BlockJob: @unchecked Sendable {
    let fd: Int32
    let base: Int64
    let size: Int64
    let blocks: Int
    let cancel: HashCancel?
    /// 32 bytes per block, written only by the worker that took the block.
    private let digestStorage: UnsafeMutablePointer<UInt8>
    var digests: [UInt8] { Array(UnsafeBufferPointer(start: digestStorage, count: blocks * 32)) }
    /// Guards `next` and `error`.
    private var lock = pthread_mutex_t()
    private var next = 0
    private(set) var error: SystemError?

    init(fd: Int32, base: Int64, size: Int64, blocks: Int, cancel: HashCancel? = nil) {
        self.cancel = cancel
        self.fd = fd
        self.base = base
        self.size = size
        self.blocks = blocks
        self.digestStorage = .allocate(capacity: blocks * 32)
        pthread_mutex_init(&lock, nil)
    }

    deinit {
        pthread_mutex_destroy(&lock)
        digestStorage.deallocate()
    }

    func fail(_ e: SystemError) {
        pthread_mutex_lock(&lock)
        if error == nil { error = e }
        pthread_mutex_unlock(&lock)
    }

    /// The next block nobody has taken, or nil when all are taken or a worker failed.
    func claim() -> Int? {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        guard error == nil, next < blocks else { return nil }
        next += 1
        return next - 1
    }

    func work() {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        let sha = SHA256()
        while let block = claim() {
            if Signals.pending != 0 {
                fail(SystemError(errno: EINTR, call: "hash"))
                return
            }
            if cancel?.isSet == true {
                fail(SystemError(errno: ECANCELED, call: "hash"))
                return
            }
            let start = Int64(block) * Int64(ContentHash.blockSize)
            let end = min(size, start + Int64(ContentHash.blockSize))
            var position = start
            sha.reset()
            while position < end {
                let want = Int(min(Int64(chunk), end - position))
                let n = pread(fd, buffer, want, off_t(base + position))
                if n < 0 {
                    if errno == EINTR { continue }
                    fail(SystemError(errno: errno, call: "pread"))
                    return
                }
                if n == 0 {  // the file shrank under us
                    fail(SystemError(errno: EIO, call: "pread"))
                    return
                }
                sha.update(UnsafeRawBufferPointer(start: buffer, count: n))
                position += Int64(n)
            }
            sha.finish(into: digestStorage + block * 32)
        }
    }
}
