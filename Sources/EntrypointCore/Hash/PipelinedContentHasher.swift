// The content hash on a second thread fed by a ring, with disk writeback.
import CCrypto
import CShims
import Glibc

/// The content hash of a stream, computed on a second thread so the producer (the download's write
/// callback) only copies each chunk into a small ring and goes on: it waits for the hasher only
/// when the ring is full. Memory is the ring (`capacity` bytes) and one thread, whatever the
/// stream's length. With `writeback`, the hasher thread also starts the kernel's writeback of each
/// hashed range of that file (`sync_file_range`, asynchronous), so a final fsync has little left.
/// Only the thread that made it calls `update` and `finalize`.
public final class PipelinedContentHasher {
    private let shared: HashRing
    private var thread: PosixThread?
    private var finished = false
    private var result: (content: String, data: String)?

    /// With `dataHash`, `finalizeBoth` also gives the stream's data hash (ContentHasher).
    public init(capacity: Int = 1 << 20, writeback fd: Int32? = nil, dataHash: Bool = false) {
        let ring = HashRing(capacity: capacity, writebackFD: fd ?? -1, dataHash: dataHash)
        shared = ring
        do {
            thread = try PosixThread.start { ring.consume() }
        } catch {
            // No thread: hash inline on the caller's thread.
            ring.inline = true
        }
    }

    deinit { stop() }

    public var byteCount: UInt64 { shared.produced }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "update after finalize")
        shared.produce(bytes)
    }

    /// Waits for the hasher to take in everything so far, stops it and returns the hex content hash.
    public func finalize() -> String { stop().content }

    /// Like `finalize`, with the data hash too (made with `dataHash: true`; else both are the content hash).
    public func finalizeBoth() -> (content: String, data: String) { stop() }

    @discardableResult
    private func stop() -> (content: String, data: String) {
        if let result { return result }
        finished = true
        shared.close()
        thread?.join()
        thread = nil
        let hashes = shared.hasher.finalizeBoth()
        shared.release()
        result = hashes
        return hashes
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
    let hasher: ContentHasher
    var inline = false
    private let writebackFD: Int32
    private var writtenBack: UInt64 = 0
    static let writebackStep: UInt64 = 8 << 20

    init(capacity: Int, writebackFD: Int32, dataHash: Bool) {
        hasher = ContentHasher(dataHash: dataHash)
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
        // Only starts writeback early; the install's fsync is what makes the bytes durable (and reports).
        bestEffort(
            "a writeback hint; the fsync before the rename is the check", ep_sync_file_range_write(writebackFD, Int64(writtenBack), Int64(end - writtenBack)))
        writtenBack = end
    }
}
