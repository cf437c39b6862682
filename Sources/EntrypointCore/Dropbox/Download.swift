// files/download: pinned to a rev, resumable with Range, hashed as the bytes arrive, verified against
// Dropbox's content hash, all inside one retry loop.
import CCurl
import CShims
import Glibc


extension DropboxClient {

    /// Streams revision `file.rev` into `fd` (positioned writes from 0), resuming a dropped transfer with
    /// Range from the last byte written. Returns both hashes of exactly the bytes written (the pipelined
    /// hasher computes the data hash in the same pass, so the install needs no second read); the
    /// content hash equals `file.contentHash`: a download whose bytes fail verification (content hash
    /// mismatch, an HTML page, another rev in Dropbox-API-Result, too many bytes) is refused, logged, and
    /// started again from byte 0 within the same attempt budget and deadline. When those run out, the
    /// last refusal is the error (exit 65).
    /// One retry loop: an attempt that wrote bytes does not use up ENTRYPOINT_MAX_ATTEMPTS.
    func downloadHashes(_ file: RemoteFile, to fd: Int32, progress: Progress?) throws(EntrypointError) -> (content: String, data: String) {
        let arg = JSON.object([("path", .string("rev:" + file.rev))]).encoded(asciiOnly: true)
        // Bytes are written from curl's buffer at once, then copied into a small ring that a second
        // thread hashes (and starts writing back to disk): the write callback waits for the hasher
        // only when the ring is full.
        var hasher = PipelinedContentHasher(writeback: fd, dataHash: true)
        var written: Int64 = 0
        var fatal: EntrypointError?  // a local failure: stops everything
        var refusal: EntrypointError?  // bad data from Dropbox: start over
        var checkedThisResponse = false
        var refreshed = false
        let route = "files/download"
        let sink = { (bytes: UnsafeRawBufferPointer, state: TransferState) -> Bool in
            if !checkedThisResponse {
                checkedThisResponse = true
                let response = state.response
                if let type = response.headers["content-type"], type.lowercased().hasPrefix("text/html") {
                    refusal = EntrypointError(.badRemoteData, "Dropbox answered \(route) with an HTML page (HTTP \(response.status), Content-Type \(type)) instead of the file; nothing was installed")
                    return false
                }
                if let result = response.headers["dropbox-api-result"], let json = try? JSON.parse(result),
                    let rev = json["rev"]?.string, rev != file.rev
                {
                    refusal = EntrypointError(.badRemoteData, "\(route) returned rev \(rev), expected \(file.rev); nothing was installed")
                    return false
                }
                if response.status == 200 && written > 0 {
                    // The server ignored our Range: start over from byte 0.
                    written = 0
                    _ = hasher.finalize()
                    hasher = PipelinedContentHasher(writeback: fd, dataHash: true)
                    if ftruncate(fd, 0) != 0 {
                        fatal = localError("truncate", "the temporary file", errno)
                        return false
                    }
                } else if response.status == 206 {
                    let range = response.headers["content-range"] ?? ""
                    if !range.hasPrefix("bytes \(written)-") {
                        refusal = EntrypointError(.badRemoteData, "\(route): resumed at the wrong offset (Content-Range \(range), wanted \(written)); nothing was installed")
                        return false
                    }
                }
            }
            if UInt64(written) + UInt64(bytes.count) > file.size {
                refusal = EntrypointError(.badRemoteData, "\(route) sent more than the \(file.size) bytes of rev \(file.rev); nothing was installed")
                return false
            }
            do throws(SystemError) {
                try FileIO.pwriteAll(fd, bytes, at: written)
            } catch {
                fatal = localError("write", "the temporary file", error.errno)
                return false
            }
            hasher.update(bytes)
            written += Int64(bytes.count)
            return true
        }
        /// Refuses what arrived so far: back to byte 0, a fresh hasher, and a retry that counts.
        func startOver(_ why: EntrypointError) throws(EntrypointError) -> Attempt<(content: String, data: String)> {
            written = 0
            _ = hasher.finalize()
            hasher = PipelinedContentHasher(writeback: fd, dataHash: true)
            if ftruncate(fd, 0) != 0 { throw localError("truncate", "the temporary file", errno) }
            return .retry(after: nil, reason: "refused the download: \(why.message)", failure: why)
        }
        let hash: (content: String, data: String) = try withRetry(route) { () throws(EntrypointError) -> Attempt<(content: String, data: String)> in
            let before = written
            refusal = nil
            let outcome: Attempt<HTTPResponse>
            do throws(EntrypointError) {
                outcome = try attempt(
                    route, host: config.contentURL,
                    headers: {
                        var h = ["Dropbox-API-Arg: \(arg)", "Content-Type:"]
                        if written > 0 { h.append("Range: bytes=\(written)-") }
                        checkedThisResponse = false  // every attempt's response is checked afresh
                        return h
                    },
                    body: { .none }, sink: sink, sinkError: { fatal ?? refusal },
                    progress: { _, _ in progress?.update(UInt64(written)) },
                    refreshed: &refreshed)
            } catch {
                if fatal == nil, let why = refusal { return try startOver(why) }
                throw error
            }
            if let e = fatal { throw e }
            if let why = refusal { return try startOver(why) }
            let response: HTTPResponse
            switch outcome {
            case .retry(let after, let reason, _, _):
                return .retry(after: after, reason: reason, progressed: written > before)
            case .done(let r):
                response = r
            }
            switch response.status {
            case 200, 206:
                if UInt64(written) < file.size {
                    // The server closed a "complete" body early (or sent a short Content-Length).
                    return .retry(after: nil, reason: "the body ended after \(written) of \(file.size) bytes", progressed: written > before)
                }
            case 416 where UInt64(written) == file.size:
                break
            case 409:
                let summary = Self.summary(response)
                if summary.hasPrefix("path/not_found") {
                    throw EntrypointError(.remoteMissing, "\(route): rev \(file.rev) of \(config.remotePath) no longer exists (HTTP 409 \(summary))", cause: .http(status: 409, summary: summary))
                }
                throw EntrypointError(.unavailable, "\(route): HTTP 409 \(summary)", cause: .http(status: 409, summary: summary))
            default:
                throw failure(route, response)
            }
            // All bytes are here: they must be the ones Dropbox describes.
            let got = hasher.finalizeBoth()
            if got.content != file.contentHash {
                return try startOver(EntrypointError(.badRemoteData, "the downloaded file's content hash \(got.content) does not match Dropbox's \(file.contentHash) for rev \(file.rev); nothing was installed"))
            }
            return .done(got)
        }
        progress?.finish(UInt64(written))
        return hash
    }
}
