// The upload of bytes that are produced once, in order, and never stored (a WAL database's streamed
// snapshot, Backup/StreamedSnapshot.swift): they go through one chunk in memory. A full chunk is
// sent (upload_session/start, then append_v2) before the next bytes are taken; a retry resends it
// from memory. The last chunk waits in memory until the stream has ended and the caller's checks
// have passed (`beforeCommit`): only then does the commit (upload_session/finish, or files/upload
// for a stream of one chunk) make anything visible. A stream or check that fails leaves an
// unfinished session, which Dropbox discards: its file is never touched.
import Glibc

extension DropboxClient {
    /// Uploads the `size` bytes that `produce` hands to its sink in order (content hash
    /// `contentHash`; `blockDigests`, the content hash's 4 MiB block digests of the same bytes, give
    /// each chunk's hash), through one chunk of `chunk` bytes of memory (a multiple of 4 MiB).
    /// `produce` throws when its stream fails; the sink's false answer stops it (an upload request
    /// failed: that error is the one thrown). `giveWay`, polled during every request before the
    /// commit, stops the upload with `Cause.gaveWay` when it says so. `beforeCommit` runs after the
    /// stream has ended, before the commit: a throw there abandons the session. Then the stored file
    /// is checked as any upload's (DropboxClient.checkStored).
    func uploadStream(
        size: Int64, contentHash: String, blockDigests: [UInt8], commit: JSON, progress: Progress, chunk: Int,
        giveWay: (() -> Bool)? = nil, afterSend: @escaping (_ chunks: Int) -> Void = { _ in },
        beforeCommit: () throws(EntrypointError) -> Void,
        produce: (_ sink: @escaping (UnsafeRawBufferPointer) -> Bool) throws(EntrypointError) -> Void
    ) throws(EntrypointError) -> RemoteFile {
        let path = commit["path"]?.string ?? config.remotePath
        let upload = ChunkedStream(client: self, size: size, blockDigests: blockDigests, chunk: chunk, progress: progress, afterSend: afterSend)
        defer { upload.release() }
        // Until the commit a stream may give way (nothing of it is visible yet); the commit itself
        // is never cut off by it (a finish cut short may or may not have been carried out).
        self.giveWay(when: giveWay)
        defer { self.giveWay(when: nil) }
        do throws(EntrypointError) {
            try produce { bytes in upload.take(bytes) }
        } catch {
            throw upload.failure ?? error
        }
        if let failure = upload.failure { throw failure }
        guard upload.received == size else {
            throw EntrypointError(.localIO, "the streamed snapshot ended after \(upload.received) of its \(size) bytes; nothing was uploaded")
        }
        try upload.checkLastChunk()
        self.giveWay(when: nil)
        try beforeCommit()
        let reported = try upload.commit(commit, path: path, contentHash: contentHash)
        progress.finish(UInt64(size))
        return try checkStored(reported, path: path, size: size, contentHash: contentHash)
    }
}

/// One streamed upload's state: the chunk in memory, where it starts, the session.
final class ChunkedStream {
    let client: DropboxClient
    let size: Int64
    let blockDigests: [UInt8]
    let progress: Progress
    /// Called after each chunk Dropbox took, with how many it took so far (a test's crash point).
    let afterSend: (_ chunks: Int) -> Void
    private var sent = 0
    /// The chunk in memory: `filled` bytes of it hold the upload's bytes from `offset` on.
    private let buffer: UnsafeMutableRawBufferPointer
    private var filled = 0
    private(set) var offset: Int64 = 0
    private var sessionID: String?
    /// The first request that failed: the sink then refuses every byte.
    private(set) var failure: EntrypointError?

    init(client: DropboxClient, size: Int64, blockDigests: [UInt8], chunk: Int, progress: Progress, afterSend: @escaping (_ chunks: Int) -> Void) {
        self.client = client
        self.afterSend = afterSend
        self.size = size
        self.blockDigests = blockDigests
        self.progress = progress
        buffer = .allocate(byteCount: max(1, Int(min(Int64(chunk), size))), alignment: 16)
    }

    func release() { buffer.deallocate() }

    /// Bytes the stream produced and this upload took.
    var received: Int64 { offset + Int64(filled) }

    /// The sink: copies `bytes` into the chunk and sends every full chunk that is not the last.
    func take(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard failure == nil else { return false }
        guard received + Int64(bytes.count) <= size else {
            failure = EntrypointError(.localIO, "the streamed snapshot is longer than its first pass (\(size) bytes); nothing was uploaded")
            return false
        }
        var taken = 0
        while taken < bytes.count {
            let n = min(bytes.count - taken, buffer.count - filled)
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<filled + n]).copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[taken..<taken + n]))
            filled += n
            taken += n
            if filled == buffer.count && received < size {
                do throws(EntrypointError) { try send() } catch {
                    failure = error
                    return false
                }
            }
        }
        return true
    }

    /// The chunk's bytes from `start` (an offset inside it) as a request body.
    private func body(from start: Int) -> RequestBody {
        .memory(UnsafeRawBufferPointer(rebasing: buffer[start..<filled]))
    }

    /// The content hash of the chunk's bytes from `start`: from the first pass's block digests when
    /// they line up with 4 MiB blocks, otherwise hashed here (a resend of a chunk's tail).
    private func hash(from start: Int) -> String {
        let at = offset + Int64(start)
        let length = Int64(filled - start)
        if let hash = ContentHash.ofRange(blocks: blockDigests, size: size, offset: at, length: length) { return hash }
        return ContentHash.ofBytes(UnsafeRawBufferPointer(rebasing: buffer[start..<filled]))
    }

    /// Sends the full chunk (start, or append), then empties it. A lost answer is recognised by
    /// Dropbox's correct_offset; a correct_offset inside the chunk resends its tail; one outside it
    /// cannot be served from memory (the stream cannot go back): the upload fails.
    private func send() throws(EntrypointError) {
        var start = 0
        var corrections = 0
        while start < filled {
            let at = offset + Int64(start)
            guard let sessionID else {
                let answer = try request(
                    "files/upload_session/start", arg: .object([("close", .bool(false)), ("content_hash", .string(hash(from: start)))]), from: start)
                guard case .stored(let json) = answer, let id = json["session_id"]?.string else {
                    throw EntrypointError(.unavailable, "upload_session/start answered without a session_id")
                }
                self.sessionID = id
                break
            }
            let cursor = JSON.object([("session_id", .string(sessionID)), ("offset", .number(Double(at)))])
            let arg = JSON.object([("cursor", cursor), ("close", .bool(false)), ("content_hash", .string(hash(from: start)))])
            switch try request("files/upload_session/append_v2", arg: arg, from: start) {
            case .stored:
                start = filled
            case .incorrectOffset(let correct):
                corrections += 1
                start = try resume(at: correct, corrections: corrections)
            case .conflict(let summary), .sessionGone(let summary):
                throw EntrypointError(.unavailable, "files/upload_session/append_v2: HTTP 409 \(summary)", cause: .http(status: 409, summary: summary))
            }
        }
        offset += Int64(filled)
        filled = 0
        sent += 1
        afterSend(sent)
    }

    /// One request carrying the chunk's bytes from `start`. Dropbox refusing them as not matching
    /// their content hash (taken from the first pass) means the second pass read other bytes than
    /// the first within one read transaction: the file changed under SQLite (a damaged disk, a
    /// process writing it without SQLite). That is the local database's fault, not Dropbox's.
    private func request(_ route: String, arg: JSON, from start: Int) throws(EntrypointError) -> UploadAnswer {
        do throws(EntrypointError) {
            return try client.uploadRequest(route, arg: arg, body: body(from: start), at: offset + Int64(start), progress: progress)
        } catch {
            guard case .http(409, let summary) = error.cause, summary.hasPrefix("content_hash_mismatch") else { throw error }
            throw mismatch(from: start, "Dropbox answered \(route): HTTP 409 \(summary)")
        }
    }

    private func mismatch(from start: Int, _ how: String) -> EntrypointError {
        let at = offset + Int64(start)
        return EntrypointError(
            .localIO,
            "the snapshot's bytes \(at)..<\(offset + Int64(filled)) differ from what its first pass read in the same read transaction (\(how)): \(client.config.localPath) changed under SQLite (a damaged disk, or a process writing the file without SQLite); nothing was committed, Dropbox's file is untouched"
        )
    }

    /// The last chunk, checked against the first pass before the commit makes it visible (the
    /// appended chunks were checked by Dropbox against the same hashes).
    func checkLastChunk() throws(EntrypointError) {
        guard filled > 0, let expected = ContentHash.ofRange(blocks: blockDigests, size: size, offset: offset, length: Int64(filled)) else { return }
        let actual = ContentHash.ofBytes(UnsafeRawBufferPointer(rebasing: buffer[0..<filled]))
        guard actual == expected else { throw mismatch(from: 0, "content hash \(actual), first pass \(expected)") }
    }

    /// Where in the chunk to go on after Dropbox reported `correct` as the session's offset.
    private func resume(at correct: UInt64, corrections: Int) throws(EntrypointError) -> Int {
        let end = UInt64(offset) + UInt64(filled)
        guard corrections <= 10, correct >= UInt64(offset), correct <= end else {
            throw EntrypointError(
                .unavailable,
                "upload session: Dropbox reports offset \(correct), but this streamed backup holds only bytes \(offset)..<\(end) in memory (a stream cannot go back); nothing was committed",
                cause: .incorrectOffset(correct))
        }
        if correct == end {
            client.log.info("upload session: Dropbox already has the bytes up to \(end) (the answer was lost); continuing")
        } else {
            client.log.warning("upload session: Dropbox has \(correct) bytes, not \(end); sending the rest of this chunk again")
        }
        return Int(Int64(correct) - offset)
    }

    /// The commit with the last chunk: files/upload when the whole stream was one chunk, otherwise
    /// upload_session/finish. A lost answer and a conflict are decided by Dropbox's metadata.
    func commit(_ commit: JSON, path: String, contentHash: String) throws(EntrypointError) -> RemoteFile {
        guard let sessionID else {
            let arg = DropboxClient.singleCallArg(commit, contentHash: contentHash)
            return try client.committing("files/upload", arg: arg, body: body(from: 0), at: 0, path: path, contentHash: contentHash, progress: progress)
        }
        let route = "files/upload_session/finish"
        var start = 0
        var corrections = 0
        while true {
            let cursor = JSON.object([("session_id", .string(sessionID)), ("offset", .number(Double(offset + Int64(start))))])
            // An empty finish (Dropbox already has every byte: an earlier finish's data) carries no hash.
            let arg = JSON.object([("cursor", cursor), ("commit", commit)] + (start < filled ? [("content_hash", .string(hash(from: start)))] : []))
            let answer = try request(route, arg: arg, from: start)
            guard case .incorrectOffset(let correct) = answer else { return try client.committed(route, answer, path: path, contentHash: contentHash) }
            corrections += 1
            start = try resume(at: correct, corrections: corrections)
        }
    }
}
