// Both hashes of a file (DataHash) computed on another thread while the caller talks to Dropbox:
// a warm start's local hash runs during the token refresh and get_metadata, a backup's snapshot hash
// during get_metadata. A thread of its own (PosixThread), as the block hasher uses.
import Glibc

/// A flag one thread sets to stop a hash another thread runs (checked once per 4 MiB block).
public final class HashCancel: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private var flag = false

    public init() { pthread_mutex_init(mutex, nil) }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    public func set() {
        pthread_mutex_lock(mutex)
        flag = true
        pthread_mutex_unlock(mutex)
    }

    public var isSet: Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return flag
    }
}

/// `DataHash.ofFile(path)` (or `ofDescriptor`) started on its own thread at init; `wait()` joins it
/// and returns its result or its error, exactly as the call on the caller's thread would. Dropped
/// without `wait()` (the caller failed first), it cancels the hash and joins the thread before it
/// goes, so nothing keeps reading the file after the caller has moved on. A stop signal stops the
/// hash as it always did: the block workers poll `Signals.pending` before every block.
public final class BackgroundDataHash {
    private let job: Job
    private var thread: PosixThread?
    private var joined = false

    final class Job: @unchecked Sendable {
        enum Source {
            case path(String)
            case descriptor(Int32, Int64)
        }
        let source: Source
        let cancel = HashCancel()
        var result: Result<(content: String, data: String, blocks: [UInt8]), SystemError>?
        init(_ source: Source) { self.source = source }

        func run() {
            do throws(SystemError) {
                switch source {
                case .path(let path):
                    let h = try DataHash.ofFile(path, cancel: cancel)
                    result = .success((h.content, h.data, []))
                case .descriptor(let fd, let size): result = .success(try DataHash.withBlocks(fd, size: size, cancel: cancel))
                }
            } catch {
                result = .failure(error)
            }
        }
    }

    /// Starts hashing the file at `path`.
    public convenience init(path: String) { self.init(.path(path)) }

    /// Starts hashing the first `size` bytes of `fd` (which must stay open until `wait()` returns).
    public convenience init(fd: Int32, size: Int64) { self.init(.descriptor(fd, size)) }

    private init(_ source: Job.Source) {
        let job = Job(source)
        self.job = job
        // No thread (nil): `wait()` hashes on the caller's thread, as before the overlap.
        thread = try? PosixThread.start { job.run() }
    }

    deinit { cancel() }

    /// Stops the hash at its next block and joins the thread, unless `wait()` already joined it.
    /// A caller whose descriptor the hash reads calls this before closing it.
    public func cancel() {
        if !joined {
            job.cancel.set()
            join()
        }
    }

    private func join() {
        thread?.join()
        thread = nil
        joined = true
    }

    /// The hashes, once the thread is done (or computed here when no thread could be started).
    public func wait() throws(SystemError) -> (content: String, data: String) {
        let all = try waitWithBlocks()
        return (all.content, all.data)
    }

    /// `wait()` with the block digests (made with `init(fd:size:)`; empty for `init(path:)`).
    func waitWithBlocks() throws(SystemError) -> (content: String, data: String, blocks: [UInt8]) {
        join()
        if job.result == nil { job.run() }
        switch job.result! {
        case .success(let hashes): return hashes
        case .failure(let error): throw error
        }
    }
}
