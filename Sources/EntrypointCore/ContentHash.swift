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
    /// - Throws: the failing system call; `SignalInterrupt` when a stop signal arrived.
    public static func ofFile(_ path: String, threads: Int? = nil) throws(SystemError) -> String {
        let fd = try FileIO.open(path, O_RDONLY)
        defer { FileIO.close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw SystemError(errno: errno, call: "fstat") }
        return try ofDescriptor(fd, size: Int64(st.st_size), threads: threads)
    }

    /// The content hash of `size` bytes of `fd` starting at `offset` (an upload chunk, or the whole file).
    public static func ofDescriptor(_ fd: Int32, offset: Int64 = 0, size: Int64, threads: Int? = nil) throws(SystemError) -> String {
        let blocks = Int((size + Int64(blockSize) - 1) / Int64(blockSize))
        if blocks == 0 { return empty }
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        let workers = max(1, min(threads ?? cores, blocks, 16))
        _ = posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL)
        let job = BlockJob(fd: fd, base: offset, size: size, blocks: blocks)
        if workers == 1 {
            job.work(worker: 0, of: 1)
        } else {
            var tids: [pthread_t] = []
            for w in 1..<workers {
                let context = Unmanaged.passRetained(WorkerContext(job: job, worker: w, of: workers)).toOpaque()
                var tid = pthread_t()
                if pthread_create(&tid, nil, { raw in
                    let ctx = Unmanaged<WorkerContext>.fromOpaque(raw!).takeRetainedValue()
                    ctx.job.work(worker: ctx.worker, of: ctx.of)
                    return nil
                }, context) == 0 {
                    tids.append(tid)
                } else {
                    Unmanaged<WorkerContext>.fromOpaque(context).release()
                    job.fail(SystemError(errno: EAGAIN, call: "pthread_create"))
                }
            }
            job.work(worker: 0, of: workers)
            for tid in tids { pthread_join(tid, nil) }
        }
        if let error = job.error { throw error }
        return finish(job.digests)
    }

    /// SHA-256 over the concatenated 32-byte block digests.
    static func finish(_ blockDigests: [UInt8]) -> String {
        let sha = SHA256()
        blockDigests.withUnsafeBytes { sha.update($0) }
        return hex(sha.finish())
    }
}

/// Blocks are shared out round-robin; each worker has its own read buffer and EVP context.
final class BlockJob: @unchecked Sendable {
    let fd: Int32
    let base: Int64
    let size: Int64
    let blocks: Int
    /// 32 bytes per block, written only by the worker that owns the block.
    private let digestStorage: UnsafeMutablePointer<UInt8>
    var digests: [UInt8] { Array(UnsafeBufferPointer(start: digestStorage, count: blocks * 32)) }
    private var lock = pthread_mutex_t()
    private(set) var error: SystemError?

    init(fd: Int32, base: Int64, size: Int64, blocks: Int) {
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

    var failed: Bool {
        pthread_mutex_lock(&lock)
        defer { pthread_mutex_unlock(&lock) }
        return error != nil
    }

    func work(worker: Int, of workers: Int) {
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        let sha = SHA256()
        var block = worker
        while block < blocks {
            if ep_signal_pending() != 0 { fail(SystemError(errno: EINTR, call: "hash")); return }
            if failed { return }
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
            block += workers
        }
    }
}

final class WorkerContext {
    let job: BlockJob
    let worker: Int
    let of: Int
    init(job: BlockJob, worker: Int, of: Int) {
        self.job = job
        self.worker = worker
        self.of = of
    }
}

/// SHA-256 through OpenSSL EVP.
final class SHA256 {
    private let ctx: OpaquePointer

    init() {
        ctx = EVP_MD_CTX_new()
        EVP_DigestInit_ex(ctx, EVP_sha256(), nil)
    }

    deinit { EVP_MD_CTX_free(ctx) }

    func reset() { EVP_DigestInit_ex(ctx, EVP_sha256(), nil) }

    func update(_ bytes: UnsafeRawBufferPointer) {
        if bytes.count > 0 { EVP_DigestUpdate(ctx, bytes.baseAddress, bytes.count) }
    }

    func finish(into out: UnsafeMutablePointer<UInt8>) {
        var length: UInt32 = 32
        EVP_DigestFinal_ex(ctx, out, &length)
    }

    func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBufferPointer { finish(into: $0.baseAddress!) }
        return out
    }
}

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

/// The content hash of a stream, computed on a second thread so the producer (the download's write
/// callback) only copies each chunk into a small ring and goes on: it waits for the hasher only
/// when the ring is full. Memory is the ring (`capacity` bytes) and one thread, whatever the
/// stream's length. With `writeback`, the hasher thread also starts the kernel's writeback of each
/// hashed range of that file (`sync_file_range`, asynchronous), so a final fsync has little left.
/// Only the thread that made it calls `update` and `finalize`.
public final class PipelinedContentHasher {
    private let shared: HashRing
    private var thread: pthread_t?
    private var finished = false
    private var result: String?

    public init(capacity: Int = 1 << 20, writeback fd: Int32? = nil) {
        shared = HashRing(capacity: capacity, writebackFD: fd ?? -1)
        let context = Unmanaged.passRetained(shared).toOpaque()
        var tid = pthread_t()
        if pthread_create(&tid, nil, { raw in
            let ring = Unmanaged<HashRing>.fromOpaque(raw!).takeRetainedValue()
            ring.consume()
            return nil
        }, context) == 0 {
            thread = tid
        } else {
            // No thread: hash inline on the caller's thread.
            Unmanaged<HashRing>.fromOpaque(context).release()
            shared.inline = true
        }
    }

    deinit { _ = stop() }

    public var byteCount: UInt64 { shared.produced }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "update after finalize")
        shared.produce(bytes)
    }

    /// Waits for the hasher to take in everything so far, stops it and returns the hex content hash.
    public func finalize() -> String { stop() }

    private func stop() -> String {
        if let result { return result }
        finished = true
        shared.close()
        if let thread { pthread_join(thread, nil) }
        thread = nil
        let hash = shared.hasher.finalize()
        shared.release()
        result = hash
        return hash
    }
}

/// The ring shared by the producer and the hasher thread: `produced` and `consumed` are running
/// byte counts; the ring holds bytes [consumed, produced). Each side signals the other only when
/// it is waiting, and the hasher sleeps until a quarter of the ring is filled, so most chunks cost
/// two uncontended mutex round trips and no system call.
final class HashRing: @unchecked Sendable {
    let capacity: Int
    private var buffer: UnsafeMutableRawPointer?
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let canRead = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let canWrite = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var readerWaiting = false
    private var writerWaiting = false
    private var closed = false
    /// The hasher is woken when this much is waiting (or at the end); a quarter of the ring.
    private let wakeBatch: Int
    private(set) var produced: UInt64 = 0
    private var consumed: UInt64 = 0
    /// Touched only by the hasher thread until it has been joined.
    let hasher = ContentHasher()
    var inline = false
    private let writebackFD: Int32
    private var writtenBack: UInt64 = 0
    static let writebackStep: UInt64 = 8 << 20

    init(capacity: Int, writebackFD: Int32) {
        self.capacity = capacity
        self.writebackFD = writebackFD
        wakeBatch = max(1, capacity / 4)
        buffer = .allocate(byteCount: capacity, alignment: 4096)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(canRead, nil)
        pthread_cond_init(canWrite, nil)
    }

    deinit {
        buffer?.deallocate()
        pthread_cond_destroy(canRead)
        pthread_cond_destroy(canWrite)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        canRead.deallocate()
        canWrite.deallocate()
    }

    /// Frees the ring as soon as the hasher is done (the rest of a restore should not carry it).
    func release() {
        buffer?.deallocate()
        buffer = nil
    }

    func produce(_ bytes: UnsafeRawBufferPointer) {
        if inline {
            hasher.update(bytes)
            produced += UInt64(bytes.count)
            writeback(upTo: produced, final: false)
            return
        }
        guard let buffer else { return }
        var offset = 0
        while offset < bytes.count {
            pthread_mutex_lock(mutex)
            while produced - consumed == UInt64(capacity) {
                writerWaiting = true
                pthread_cond_wait(canWrite, mutex)
                writerWaiting = false
            }
            let free = capacity - Int(produced - consumed)
            let head = Int(produced % UInt64(capacity))
            pthread_mutex_unlock(mutex)
            // Only this thread moves `produced`, so [head, head + take) stays ours without the lock.
            let take = min(bytes.count - offset, free, capacity - head)
            (buffer + head).copyMemory(from: bytes.baseAddress! + offset, byteCount: take)
            offset += take
            pthread_mutex_lock(mutex)
            produced += UInt64(take)
            if readerWaiting && produced - consumed >= UInt64(wakeBatch) { pthread_cond_signal(canRead) }
            pthread_mutex_unlock(mutex)
        }
    }

    func close() {
        pthread_mutex_lock(mutex)
        closed = true
        if readerWaiting { pthread_cond_signal(canRead) }
        pthread_mutex_unlock(mutex)
        if inline { writeback(upTo: produced, final: true) }
    }

    /// The hasher thread: hash whatever is in the ring, contiguous span by span, until closed and drained.
    func consume() {
        guard let buffer else { return }
        while true {
            pthread_mutex_lock(mutex)
            // Sleep until a batch is ready: one wake-up per `wakeBatch` bytes, not one per chunk.
            while produced - consumed < UInt64(wakeBatch) && !closed {
                readerWaiting = true
                pthread_cond_wait(canRead, mutex)
                readerWaiting = false
            }
            if produced == consumed {  // closed and drained
                pthread_mutex_unlock(mutex)
                writeback(upTo: consumed, final: true)
                return
            }
            let available = Int(produced - consumed)
            let tail = Int(consumed % UInt64(capacity))
            pthread_mutex_unlock(mutex)
            let take = min(available, capacity - tail)
            hasher.update(UnsafeRawBufferPointer(start: buffer + tail, count: take))
            pthread_mutex_lock(mutex)
            consumed += UInt64(take)
            if writerWaiting { pthread_cond_signal(canWrite) }
            let done = consumed
            pthread_mutex_unlock(mutex)
            writeback(upTo: done, final: false)
        }
    }

    /// Starts writeback of [writtenBack, upTo) once a step's worth has accumulated. The producer
    /// wrote those bytes before handing them over, so they are in the page cache.
    private func writeback(upTo end: UInt64, final: Bool) {
        guard writebackFD >= 0, end > writtenBack, final || end - writtenBack >= Self.writebackStep else { return }
        _ = ep_sync_file_range_write(writebackFD, Int64(writtenBack), Int64(end - writtenBack))
        writtenBack = end
    }
}
