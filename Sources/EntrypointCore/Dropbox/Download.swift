// files/download: pinned to a rev, resumable with Range, hashed as the bytes arrive.
import CCurl
import CShims
import Glibc


extension DropboxClient {

    /// Streams revision `file.rev` into `fd` (positioned writes from 0), resuming a dropped transfer with
    /// Range from the last byte written. Returns the content hash of exactly the bytes written.
    public func download(_ file: RemoteFile, to fd: Int32, progress: Progress?) throws(EntrypointError) -> String {
        let arg = JSON.object([("path", .string("rev:" + file.rev))]).encoded(asciiOnly: true)
        // Bytes are written from curl's buffer at once, then copied into a small ring that a second
        // thread hashes (and starts writing back to disk): the write callback waits for the hasher
        // only when the ring is full.
        var hasher = PipelinedContentHasher(writeback: fd)
        var written: Int64 = 0
        var sinkFailure: EntrypointError?
        var checkedThisResponse = false
        let route = "files/download"
        let sink = { (bytes: UnsafeRawBufferPointer, state: TransferState) -> Bool in
            if !checkedThisResponse {
                checkedThisResponse = true
                let response = state.response
                if let type = response.headers["content-type"], type.lowercased().hasPrefix("text/html") {
                    sinkFailure = EntrypointError(.badRemoteData, "Dropbox answered \(route) with an HTML page (HTTP \(response.status), Content-Type \(type)) instead of the file; nothing was installed")
                    return false
                }
                if let result = response.headers["dropbox-api-result"], let json = try? JSON.parse(result),
                    let rev = json["rev"]?.string, rev != file.rev
                {
                    sinkFailure = EntrypointError(.badRemoteData, "\(route) returned rev \(rev), expected \(file.rev); nothing was installed")
                    return false
                }
                if response.status == 200 && written > 0 {
                    // The server ignored our Range: start over from byte 0.
                    written = 0
                    _ = hasher.finalize()
                    hasher = PipelinedContentHasher(writeback: fd)
                    if ftruncate(fd, 0) != 0 {
                        sinkFailure = localError("truncate", "the temporary file", errno)
                        return false
                    }
                } else if response.status == 206 {
                    let range = response.headers["content-range"] ?? ""
                    if !range.hasPrefix("bytes \(written)-") {
                        sinkFailure = EntrypointError(.unavailable, "\(route): resumed at the wrong offset (Content-Range \(range), wanted \(written))")
                        return false
                    }
                }
            }
            if UInt64(written) + UInt64(bytes.count) > file.size {
                sinkFailure = EntrypointError(.badRemoteData, "\(route) sent more than the \(file.size) bytes of rev \(file.rev); nothing was installed")
                return false
            }
            do throws(SystemError) {
                try FileIO.pwriteAll(fd, bytes, at: written)
            } catch {
                sinkFailure = localError("write", "the temporary file", error.errno)
                return false
            }
            hasher.update(bytes)
            written += Int64(bytes.count)
            return true
        }
        try withRetry(route) { (_) throws(EntrypointError) -> Attempt<Void> in
            let response = try send(
                route, host: config.contentURL,
                headers: {
                    var h = ["Dropbox-API-Arg: \(arg)", "Content-Type:"]
                    if written > 0 { h.append("Range: bytes=\(written)-") }
                    checkedThisResponse = false  // every attempt's response is checked afresh
                    return h
                },
                body: { .none }, sink: sink, sinkError: { sinkFailure },
                progress: { _, _ in progress?.update(UInt64(written)) })
            if let e = sinkFailure { throw e }
            switch response.status {
            case 200, 206:
                if UInt64(written) < file.size {
                    // The server closed a "complete" body early (or sent a short Content-Length).
                    return .retry(after: nil, reason: "the body ended after \(written) of \(file.size) bytes")
                }
                return .done(())
            case 416 where UInt64(written) == file.size:
                return .done(())
            case 409:
                let summary = Self.summary(response)
                if summary.hasPrefix("path/not_found") {
                    throw EntrypointError(.remoteMissing, "\(route): rev \(file.rev) of \(config.remotePath) no longer exists (HTTP 409 \(summary))")
                }
                throw EntrypointError(.unavailable, "\(route): HTTP 409 \(summary)")
            default:
                throw failure(route, response)
            }
        }
        progress?.finish(UInt64(written))
        return hasher.finalize()
    }
}
