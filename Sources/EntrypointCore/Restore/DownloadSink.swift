// The download's temporary file, as the restore (and --download) owns it: the Dropbox layer hands
// over bytes (Dropbox/Download.swift, `DownloadSink`); this file writes them, truncates the file
// when the bytes start over, and hashes them as they arrive.
import Glibc

/// Writes each range at its offset of `fd` and hashes it on a second thread (a 1 MiB ring, whatever
/// the file's size: the memory bound), which also starts the kernel's writeback behind the writes.
/// One pass gives both hashes: the install needs no second read for the record's data hash.
final class TemporaryFileSink: DownloadSink {
    private let fd: Int32
    /// How the error lines name the file (its path).
    private let path: String
    private var hasher: PipelinedContentHasher
    /// The data hash of the bytes taken, once `contentHash()` has been asked for.
    private(set) var dataHash: String?

    init(fd: Int32, path: String = "the temporary file") {
        self.fd = fd
        self.path = path
        hasher = PipelinedContentHasher(writeback: fd, dataHash: true)
    }

    func take(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(EntrypointError) {
        do throws(SystemError) {
            try FileIO.pwriteAll(fd, bytes, at: offset)
        } catch {
            throw localError("write", path, error.errno)
        }
        // Written from curl's buffer at once, then copied into the ring: the callback waits for
        // the hasher only when the ring is full.
        hasher.update(bytes)
    }

    func restart() throws(EntrypointError) {
        _ = hasher.finalize()
        hasher = PipelinedContentHasher(writeback: fd, dataHash: true)
        dataHash = nil
        if ftruncate(fd, 0) != 0 { throw localError("truncate", path, errno) }
    }

    func contentHash() -> String {
        let both = hasher.finalizeBoth()
        dataHash = both.data
        return both.content
    }
}

extension DropboxClient {
    /// Downloads revision `file.rev` into the open temporary file `fd` (positioned writes from 0):
    /// both hashes of exactly the bytes written, the content hash being Dropbox's. `path` names the
    /// file in an error line (a full volume).
    func downloadHashes(
        _ file: RemoteFile, to fd: Int32, path: String = "the temporary file", progress: Progress?
    ) throws(EntrypointError) -> (content: String, data: String) {
        let sink = TemporaryFileSink(fd: fd, path: path)
        let content = try download(file, into: sink, progress: progress)
        return (content, sink.dataHash ?? content)
    }
}
