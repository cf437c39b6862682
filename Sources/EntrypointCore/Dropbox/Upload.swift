// Uploads for --backup: files/upload for a snapshot up to one chunk, an upload session otherwise.
// Every request retries transport failures and retryable statuses in one loop (Retry.swift); a lost
// answer is recovered from what Dropbox reports (correct_offset, get_metadata), and every success is
// checked against Dropbox's metadata afterwards.
import CCurl
import CShims
import Glibc

/// What one upload request ended with, as typed values (no message parsing).
enum UploadAnswer {
    /// 200: the JSON answer.
    case stored(JSON)
    /// 409 incorrect_offset (also lookup_failed/incorrect_offset): where Dropbox's session really is.
    case incorrectOffset(UInt64)
    /// 409 path/conflict: Dropbox's error summary.
    case conflict(String)
    /// 409 not_found (also lookup_failed/not_found): the upload session is gone, e.g. finished by a
    /// resend whose answer was lost.
    case sessionGone(String)
}

extension DropboxClient {

    /// Uploads the `size` bytes of `fd` (content hash `contentHash`) with `commit` (CommitInfo),
    /// in one call up to `chunk` bytes (default ENTRYPOINT_UPLOAD_CHUNK_MB), in an upload session
    /// otherwise. `commit["path"]` is where it goes. Returns Dropbox's metadata of the stored file
    /// after checking it (get_metadata: same size and content hash).
    /// `blockDigests` (DataHash.withBlocks of the same bytes), when given, make the session's chunk
    /// hashes without reading the file again.
    func upload(
        fd: Int32, size: Int64, contentHash: String, commit: JSON, progress: Progress, chunk: Int64? = nil,
        blockDigests: [UInt8]? = nil
    ) throws(EntrypointError) -> RemoteFile {
        let chunk = chunk ?? Int64(config.uploadChunk)
        let path = commit["path"]?.string ?? config.remotePath
        let reported: RemoteFile
        if size <= chunk {
            reported = try committing(
                "files/upload", arg: Self.singleCallArg(commit, contentHash: contentHash), body: .file(fd: fd, offset: 0, length: size), at: 0, path: path,
                contentHash: contentHash, progress: progress)
        } else {
            reported = try session(
                fd: fd, size: size, commit: commit, chunk: chunk, path: path, contentHash: contentHash, progress: progress, blockDigests: blockDigests)
        }
        progress.finish(UInt64(size))
        return try checkStored(reported, path: path, size: size, contentHash: contentHash)
    }

    /// Dropbox's answer to a commit, checked, then what Dropbox holds at `path`, asked separately
    /// (the upload's own answer is not the proof): both the uploaded size and content hash.
    func checkStored(_ reported: RemoteFile, path: String, size: Int64, contentHash: String) throws(EntrypointError) -> RemoteFile {
        guard reported.contentHash == contentHash, reported.size == UInt64(size) else {
            throw EntrypointError(
                .badRemoteData,
                "after the upload Dropbox reports content hash \(reported.contentHash) and \(reported.size) bytes, expected \(contentHash) and \(size) bytes; check \(path) in Dropbox"
            )
        }
        guard let stored = try metadata(path) else {
            throw EntrypointError(.badRemoteData, "after the upload of rev \(reported.rev) Dropbox has no file at \(path); check it in Dropbox")
        }
        guard stored.contentHash == contentHash, stored.size == UInt64(size) else {
            throw EntrypointError(
                .badRemoteData,
                "after the upload Dropbox's metadata of \(path) shows rev \(stored.rev), \(stored.size) bytes, content hash \(stored.contentHash); the snapshot is \(size) bytes, \(contentHash)"
            )
        }
        return stored
    }

    /// files/upload's argument: the commit (CommitInfo) with the whole file's content hash.
    static func singleCallArg(_ commit: JSON, contentHash: String) -> JSON {
        guard case .object(var members) = commit else { return commit }
        members.append(("content_hash", .string(contentHash)))
        return .object(members)
    }

    /// What a commit's answer means, other than `incorrectOffset` (the caller resumes the session or
    /// fails on it first): stored, or a conflict or a gone session that Dropbox's metadata decides.
    func committed(_ route: String, _ answer: UploadAnswer, path: String, contentHash: String) throws(EntrypointError) -> RemoteFile {
        switch answer {
        case .stored(let json): return try storedFile(route, json, path: path, contentHash: contentHash)
        case .conflict(let summary): return try resolveConflict(route, summary, path: path, contentHash: contentHash)
        case .sessionGone(let summary): return try resolveSessionGone(route, summary, path: path, contentHash: contentHash)
        case .incorrectOffset(let correct):
            throw EntrypointError(.unavailable, "\(route): Dropbox's upload session is at offset \(correct)", cause: .incorrectOffset(correct))
        }
    }

    /// A request that commits the file (files/upload, upload_session/finish). When a retry of it gets
    /// a conflict, the first attempt may have been carried out with its answer lost: Dropbox's
    /// metadata decides (its content hash is this snapshot's: success; anything else: a conflict).
    func committing(
        _ route: String, arg: JSON, body: RequestBody, at offset: Int64, path: String, contentHash: String, progress: Progress
    ) throws(EntrypointError) -> RemoteFile {
        let answer = try uploadRequest(route, arg: arg, body: body, at: offset, progress: progress)
        if case .incorrectOffset(let correct) = answer {
            throw EntrypointError(
                .unavailable, "\(route): Dropbox's upload session is at offset \(correct), not \(offset + body.length) as expected",
                cause: .incorrectOffset(correct)
            )
        }
        return try committed(route, answer, path: path, contentHash: contentHash)
    }

    /// A conflict on the commit. It may be our own success whose answer was lost: the request was
    /// sent again (by our retry loop, or by libcurl on a connection that died) and the first copy had
    /// already moved the rev on. Ask Dropbox: if it holds this snapshot, the backup is done.
    func resolveConflict(_ route: String, _ summary: String, path: String, contentHash: String) throws(EntrypointError) -> RemoteFile {
        if let remote = try metadata(path), remote.contentHash == contentHash {
            log.info(
                "\(route): Dropbox answered \(summary), but it holds this snapshot at \(path) (rev \(remote.rev)): the first upload attempt had already stored it"
            )
            return remote
        }
        throw EntrypointError(
            .conflict,
            "Dropbox refused the upload to \(path): \(summary) (the remote file changed since the last restore); nothing was overwritten. Use --backup --force to overwrite it",
            cause: .http(status: 409, summary: summary))
    }

    /// The session is gone on a finish: a resend of a finish that was carried out. Ask Dropbox.
    func resolveSessionGone(_ route: String, _ summary: String, path: String, contentHash: String) throws(EntrypointError) -> RemoteFile {
        if let remote = try metadata(path), remote.contentHash == contentHash {
            log.info("\(route): Dropbox answered \(summary), but it holds this snapshot at \(path) (rev \(remote.rev)): the first finish had already stored it")
            return remote
        }
        throw EntrypointError(
            .unavailable, "\(route): HTTP 409 \(summary) (the upload session is gone and \(path) does not hold this snapshot)",
            cause: .http(status: 409, summary: summary))
    }

    /// A 200 on a commit. An answer that is not a file's metadata (cut short, garbled, a proxy's
    /// page) says nothing either way: the commit may have happened. Dropbox's metadata decides, as
    /// for a lost answer: if it holds this snapshot, the upload is done; otherwise it is a failure.
    func storedFile(_ route: String, _ json: JSON, path: String, contentHash: String) throws(EntrypointError) -> RemoteFile {
        if let file = RemoteFile(json) { return file }
        if let remote = try metadata(path), remote.contentHash == contentHash {
            log.info("\(route) answered 200 without a file's metadata, but Dropbox holds this snapshot at \(path) (rev \(remote.rev)): the upload was stored")
            return remote
        }
        throw EntrypointError(
            .badRemoteData,
            "\(route) answered 200 without a file's rev, size and content_hash, and \(path) in Dropbox does not hold this snapshot; nothing was uploaded")
    }

    /// An upload session: start, append in chunks (multiples of 4 MiB), finish with the commit. An
    /// `incorrect_offset` answer (e.g. the retry of an append whose answer was lost) moves the cursor
    /// to Dropbox's `correct_offset` and goes on: no byte is sent twice into the file, none skipped.
    func session(
        fd: Int32, size: Int64, commit: JSON, chunk: Int64, path: String, contentHash: String, progress: Progress,
        blockDigests: [UInt8]? = nil
    ) throws(EntrypointError) -> RemoteFile {
        func chunkHash(_ offset: Int64, _ length: Int64) throws(EntrypointError) -> String {
            if let blockDigests, let hash = ContentHash.ofRange(blocks: blockDigests, size: size, offset: offset, length: length) { return hash }
            do throws(SystemError) { return try ContentHash.ofDescriptor(fd, offset: offset, size: length) } catch {
                throw error.localError("read", "the snapshot")
            }
        }
        let first = min(chunk, size)
        let started = try uploadRequest(
            "files/upload_session/start",
            arg: .object([("close", .bool(false)), ("content_hash", .string(try chunkHash(0, first)))]),
            body: .file(fd: fd, offset: 0, length: first), at: 0, progress: progress)
        guard case .stored(let json) = started, let sessionID = json["session_id"]?.string else {
            throw EntrypointError(.unavailable, "upload_session/start answered without a session_id")
        }
        var offset = first
        var corrections = 0
        while true {
            let length = min(chunk, size - offset)
            let last = offset + length >= size
            let cursor = JSON.object([("session_id", .string(sessionID)), ("offset", .number(Double(offset)))])
            let correct: UInt64
            if last {
                let arg = JSON.object([("cursor", cursor), ("commit", commit), ("content_hash", .string(try chunkHash(offset, length)))])
                let route = "files/upload_session/finish"
                let answer = try uploadRequest(route, arg: arg, body: .file(fd: fd, offset: offset, length: length), at: offset, progress: progress)
                guard case .incorrectOffset(let c) = answer else { return try committed(route, answer, path: path, contentHash: contentHash) }
                correct = c
            } else {
                let arg = JSON.object([("cursor", cursor), ("close", .bool(false)), ("content_hash", .string(try chunkHash(offset, length)))])
                switch try uploadRequest(
                    "files/upload_session/append_v2", arg: arg, body: .file(fd: fd, offset: offset, length: length), at: offset, progress: progress)
                {
                case .stored:
                    offset += length
                    continue
                case .incorrectOffset(let c): correct = c
                case .conflict(let summary), .sessionGone(let summary):
                    throw EntrypointError(.unavailable, "files/upload_session/append_v2: HTTP 409 \(summary)", cause: .http(status: 409, summary: summary))
                }
            }
            corrections += 1
            guard corrections <= 10, correct <= UInt64(size) else {
                throw EntrypointError(
                    .unavailable, "upload session: Dropbox keeps reporting incorrect_offset (now \(correct) of \(size) bytes)", cause: .incorrectOffset(correct)
                )
            }
            if correct == UInt64(offset) + UInt64(length) {
                log.info("upload session: Dropbox already has the \(length) bytes at offset \(offset) (the answer was lost); continuing at \(correct)")
            } else {
                log.warning("upload session: Dropbox has \(correct) bytes, not \(offset); continuing from there")
            }
            offset = Int64(correct)
        }
    }

    /// One upload request sending `body` (a file range or a chunk in memory) that starts at byte
    /// `offset` of the upload, inside one retry loop: transport failures (reset, timeout) and
    /// retryable statuses are retried under the usual backoff, Retry-After and deadline rules; the
    /// body is sent again from its start each time. Returns the typed answer.
    func uploadRequest(
        _ route: String, arg: JSON, body: RequestBody, at offset: Int64, progress: Progress
    ) throws(EntrypointError) -> UploadAnswer {
        let header = "Dropbox-API-Arg: " + arg.encoded(asciiOnly: true)
        var refreshed = false
        let response: HTTPResponse = try withRetry(route) { () throws(EntrypointError) -> Attempt<HTTPResponse> in
            let outcome = try attempt(
                route, host: config.contentURL,
                headers: { [header, "Content-Type: application/octet-stream"] },
                body: { body },
                progress: { sent, _ in progress.update(UInt64(offset) + UInt64(max(0, sent))) },
                refreshed: &refreshed)
            // A 409 too_many_write_operations (WriteError, or the finish's own) stored nothing: retry it.
            if case .done(let r) = outcome, r.status == 409, DropboxRefusal.of(r) == .writeContention {
                return .retry(after: Self.retryAfter(r), reason: "HTTP 409 \(DropboxRefusal.contentionReason)")
            }
            return outcome
        }
        if response.status == 200 { return .stored(response.json ?? .null) }
        let summary = Self.summary(response)
        let path = arg["path"]?.string ?? arg["commit"]?["path"]?.string ?? config.remotePath
        if let refusal = DropboxRefusal.of(response, route: route), refusal != .writeContention {
            throw refusal.error(route, status: response.status, summary: summary, path: path, pathRoot: pathRoot)
        }
        if response.status == 409 {
            let error = response.json?["error"]
            if let correct = error?["correct_offset"]?.uint64 ?? error?["lookup_failed"]?["correct_offset"]?.uint64 {
                return .incorrectOffset(correct)
            }
            if summary.hasPrefix("path/conflict") || error?["reason"]?[".tag"]?.string == "conflict" || error?["path"]?[".tag"]?.string == "conflict" {
                return .conflict(summary)
            }
            if error?[".tag"]?.string == "not_found" || error?["lookup_failed"]?[".tag"]?.string == "not_found" {
                return .sessionGone(summary)
            }
            throw EntrypointError(.unavailable, "\(route): HTTP 409 \(summary)", cause: .http(status: 409, summary: summary))
        }
        throw failure(route, response, path: path)
    }
}
